//! Spreading one run over several invocations of the function itself (Lambda `Invoke`), and
//! merging their results exactly.

use std::future::Future;

use aws_smithy_types::Blob;
use secure_lambda::aws::classify;
use serde_json::Value;

/// Invokes one worker synchronously and returns its response document.
pub trait Invoker: Send + Sync {
    fn invoke(&self, payload: Value) -> impl Future<Output = Result<Value, String>> + Send;
}

/// [`Invoker`] over Lambda `Invoke` of a named function (this one).
pub struct LambdaInvoker {
    pub client: aws_sdk_lambda::Client,
    pub function_name: String,
}

impl Invoker for LambdaInvoker {
    async fn invoke(&self, payload: Value) -> Result<Value, String> {
        let output = self
            .client
            .invoke()
            .function_name(&self.function_name)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| classify(&e).detail)?;
        if let Some(error) = output.function_error() {
            return Err(format!("the worker failed ({error})"));
        }
        let bytes = output
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default();
        serde_json::from_slice(&bytes).map_err(|_| "the worker's answer is not JSON".to_owned())
    }
}
