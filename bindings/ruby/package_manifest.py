"""Print the Cargo.toml of the gem's own small workspace (bindings/ruby/package.sh): the root workspace's package
fields, dependencies, lints and profiles, with its members replaced by the extension crate and the two Tasker
crates it needs, vendored under ext/vendor."""
import re
import sys

text = open(sys.argv[1]).read()
sections = re.split(r"(?m)^(?=\[)", text)
keep = []
for section in sections:
    header = section.split("\n", 1)[0].strip()
    if header == "[workspace]":
        keep.append('[workspace]\nresolver = "2"\nmembers = ["tasker_rb", "vendor/tasker-shared", '
                    '"vendor/tasker-worker-foundation"]\n\n')
    elif header == "[workspace.dependencies]":
        lines = []
        for line in section.splitlines(keepends=True):
            name = line.split("=", 1)[0].strip()
            if name in ("tasker-shared", "tasker-worker-foundation"):
                lines.append(f'{name} = {{ path = "vendor/{name}", version = "0.1.0" }}\n')
            elif name in ("tasker-orchestration", "tasker-worker-rust"):
                continue
            else:
                lines.append(line)
        keep.append("".join(lines))
    elif header.startswith(("[workspace.", "[profile")):
        keep.append(section)
print("".join(keep))
