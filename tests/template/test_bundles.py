"""The bundle check of `make package` (bundles.py), on binaries of this machine changed the way a
wrong build would be wrong. `make package` runs it on the real arm64 bundles.

Run: .venv/bin/python -m unittest discover -s tests/template
"""

import pathlib
import shutil
import struct
import tempfile
import unittest

import bundles

HOST_BINARY = pathlib.Path(shutil.which("ls") or "/bin/ls").resolve()


class BundleCheckTest(unittest.TestCase):
    def setUp(self):
        self.dir = pathlib.Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.dir)

    def variant(self, name, change):
        data = bytearray(HOST_BINARY.read_bytes())
        change(data)
        path = self.dir / name
        path.write_bytes(bytes(data))
        return path

    def test_a_host_binary_is_not_an_arm64_bundle(self):
        problems = bundles.check(HOST_BINARY)
        self.assertTrue(any("not aarch64" in p for p in problems), problems)
        self.assertTrue(any("interpreter" in p for p in problems), problems)

    def test_the_machine_and_the_loader_are_both_checked(self):
        def to_aarch64(data):
            struct.pack_into("<H", data, 0x12, bundles.EM_AARCH64)

        problems = bundles.check(self.variant("machine", to_aarch64))
        self.assertFalse(any("not aarch64" in p for p in problems), problems)
        self.assertTrue(any("interpreter" in p for p in problems), problems)

    def test_a_symbol_table_is_found(self):
        def rename_a_section_to_symtab(data):
            # The section-name table holds ".shstrtab" in every ELF: rename it in place.
            at = data.index(b".shstrtab\0")
            data[at : at + len(".shstrtab")] = b".symtab\0\0"

        problems = bundles.check(self.variant("symbols", rename_a_section_to_symtab))
        self.assertIn("not stripped: has a symbol table (.symtab)", problems)

    def test_unwinding_tables_are_found(self):
        # Distributions build their binaries with them: a release link that kept them looks so.
        problems = bundles.check(HOST_BINARY)
        self.assertTrue(any(p.startswith("has unwinding tables (.eh_frame, ") for p in problems), problems)

    def test_a_newer_glibc_than_the_runtime_is_refused(self):
        def needs_glibc_2_99(data):
            data.extend(b"\0GLIBC_2.99\0")

        problems = bundles.check(self.variant("glibc", needs_glibc_2_99))
        self.assertIn("needs glibc 2.99, the runtime has 2.34", problems)

    def test_not_an_elf(self):
        path = self.dir / "script"
        path.write_bytes(b"#!/bin/sh\n")
        self.assertEqual(bundles.check(path), ["not an ELF file"])

    def test_the_zip_holds_an_executable_bootstrap(self):
        import zipfile

        zip_path = self.dir / "out" / "F.zip"
        bundles.bundle(HOST_BINARY, zip_path)
        with zipfile.ZipFile(zip_path) as archive:
            (info,) = archive.infolist()
            self.assertEqual(info.filename, "bootstrap")
            self.assertEqual((info.external_attr >> 16) & 0o777, 0o755)
            self.assertEqual(archive.read("bootstrap"), HOST_BINARY.read_bytes())

    def test_the_extension_layer_is_checked(self):
        self.assertEqual(bundles.layer_ids(), ["SecretsExtensionLayer"])

    def test_every_rust_function_of_the_template_is_checked(self):
        self.assertEqual(
            bundles.function_ids(),
            ["DataDecryptFunction", "DataMaskingFunction", "LoadTestFunction", "MultiTenantQueryFunction", "SecureConfigFunction"],
        )


if __name__ == "__main__":
    unittest.main()
