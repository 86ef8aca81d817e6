"""Checks the function bundles `sam build` made and zips them as `sam package` uploads them.

Each `<build dir>/<Function>/bootstrap` must be what Lambda's `provided.al2023` runtime on arm64
can run: a 64-bit little-endian aarch64 ELF executable whose interpreter is the aarch64 glibc
loader, needing no glibc symbol version newer than the runtime's (2.34), and stripped (no symbol
table, no debug sections: smaller to upload and to load, nothing for a reader of the bundle), and
without unwinding tables (release builds abort on a panic: crates/lambda-link drops them).
The zip holds `bootstrap` alone, executable. Prints one line per function with its sizes.

Run: .venv/bin/python tests/template/bundles.py .aws-sam/build .aws-sam/bundles
"""

import pathlib
import re
import struct
import sys
import zipfile

import deploy

EM_AARCH64 = 183
ET_EXEC, ET_DYN = 2, 3
PT_INTERP = 3
INTERPRETER = b"/lib/ld-linux-aarch64.so.1"
# glibc of Amazon Linux 2023, the `provided.al2023` runtime.
RUNTIME_GLIBC = (2, 34)


class BundleError(Exception):
    pass


def sections(data):
    """(name, offset, size) of each section of a 64-bit little-endian ELF."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    entries = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_offset = entries[shstrndx][4] if shnum else 0

    def name(offset):
        start = names_offset + offset
        return data[start : data.index(b"\0", start)].decode()

    return [(name(e[0]), e[4], e[5]) for e in entries]


def interpreter(data):
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == PT_INTERP:
            return data[p_offset : p_offset + p_filesz].rstrip(b"\0")
    return None


def check(path):
    """What is wrong with the bootstrap at `path`, as a list of sentences (empty: nothing)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        return ["not an ELF file"]
    if data[4] != 2 or data[5] != 1:
        return ["not a 64-bit little-endian ELF"]
    e_type, e_machine = struct.unpack_from("<HH", data, 0x10)
    problems = []
    if e_machine != EM_AARCH64:
        problems.append(f"machine {e_machine}, not aarch64 ({EM_AARCH64})")
    if e_type not in (ET_EXEC, ET_DYN):
        problems.append(f"ELF type {e_type}, not an executable")
    names = {name for name, _, _ in sections(data)}
    if ".symtab" in names:
        problems.append("not stripped: has a symbol table (.symtab)")
    debug = sorted(n for n in names if n.startswith(".debug"))
    if debug:
        problems.append(f"not stripped: has debug sections ({', '.join(debug)})")
    unwinding = sum(size for name, _, size in sections(data) if name == ".eh_frame")
    if unwinding:
        problems.append(
            f"has unwinding tables (.eh_frame, {unwinding:,} bytes): "
            "the release link settings (crates/lambda-link) were not applied"
        )
    found = interpreter(data)
    if found != INTERPRETER:
        problems.append(f"interpreter {found!r}, not {INTERPRETER.decode()}")
    needed = max(
        ((int(m.group(1)), int(m.group(2))) for m in re.finditer(rb"GLIBC_(\d+)\.(\d+)", data)),
        default=None,
    )
    if needed and needed > RUNTIME_GLIBC:
        problems.append(f"needs glibc {needed[0]}.{needed[1]}, the runtime has {RUNTIME_GLIBC[0]}.{RUNTIME_GLIBC[1]}")
    return problems


def function_ids():
    """The logical ids of the template's Rust functions, which `sam build` names its folders by."""
    resources = deploy.load_template()["Resources"]
    return sorted(
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and resource.get("Metadata", {}).get("BuildMethod") == "rust-cargolambda"
    )


def layer_ids():
    """The logical ids of the template's extension layers, each `<id>/extensions/<binary>`."""
    resources = deploy.load_template()["Resources"]
    return sorted(
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
        and resource.get("Metadata", {}).get("BuildMethod") == "makefile"
    )


def bundle(bootstrap, zip_path, name="bootstrap"):
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr(info, bootstrap.read_bytes(), compresslevel=9)


def main(build_dir, out_dir):
    failed = False
    ids = function_ids()
    if not ids:
        print("template.yaml has no rust-cargolambda function", file=sys.stderr)
        return 1
    for logical_id in ids:
        bootstrap = build_dir / logical_id / "bootstrap"
        if not bootstrap.is_file():
            print(f"{logical_id}: {bootstrap} is missing (did sam build run?)", file=sys.stderr)
            failed = True
            continue
        problems = check(bootstrap)
        if problems:
            print(f"{logical_id}: {'; '.join(problems)}", file=sys.stderr)
            failed = True
            continue
        zip_path = out_dir / f"{logical_id}.zip"
        bundle(bootstrap, zip_path)
        print(f"{logical_id}: aarch64 ELF, stripped, bootstrap {bootstrap.stat().st_size:,} bytes, zip {zip_path.stat().st_size:,} bytes ({zip_path})")
    for logical_id in layer_ids():
        # Lambda runs every file of /opt/extensions/ as an extension.
        extensions = sorted((build_dir / logical_id / "extensions").glob("*"))
        if len(extensions) != 1:
            print(f"{logical_id}: expected one file in extensions/, found {[e.name for e in extensions]}", file=sys.stderr)
            failed = True
            continue
        (binary,) = extensions
        problems = check(binary)
        if problems:
            print(f"{logical_id}: {'; '.join(problems)}", file=sys.stderr)
            failed = True
            continue
        zip_path = out_dir / f"{logical_id}.zip"
        bundle(binary, zip_path, f"extensions/{binary.name}")
        print(f"{logical_id}: aarch64 ELF, stripped, extensions/{binary.name} {binary.stat().st_size:,} bytes, zip {zip_path.stat().st_size:,} bytes ({zip_path})")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])))
