// Reads values through the secrets extension as a Node.js function would: fetch() to
// `localhost` (Node 17+ tries ::1 first where the hosts file lists it) with the token header
// in lower case. stdin: a JSON list of request paths; stdout: [{status, body}] per path.

const port = process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT;
let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const path of JSON.parse(input)) {
  const response = await fetch(`http://localhost:${port}${path}`, {
    headers: { "x-aws-parameters-secrets-token": process.env.AWS_SESSION_TOKEN },
  });
  results.push({ status: response.status, body: await response.text() });
}
process.stdout.write(JSON.stringify(results));
