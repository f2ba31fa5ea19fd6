#!/usr/bin/env python3
"""Adds lockfile entries for platform-specific optional packages that this machine's npm
registry mirror does not carry (it serves linux builds only, so `npm install` drops e.g.
@biomejs/cli-darwin-arm64 from package-lock.json and `npm ci` then refuses the lock as out of
sync). Each added entry is optional and pinned to its os/cpu, so npm ci skips it here and a
machine of that platform resolves it from the public registry. Run after `npm install`."""
import json, re, sys

path = sys.argv[1] if len(sys.argv) > 1 else "package-lock.json"
lock = json.load(open(path))
packages = lock["packages"]
added = []
for key, entry in list(packages.items()):
    for name, version in (entry.get("optionalDependencies") or {}).items():
        target = f"node_modules/{name}"
        if target in packages:
            continue
        suffix = name.split("/")[-1]
        os_ = next((o for o in ("android", "darwin", "win32", "linux", "freebsd") if o in suffix), None)
        cpu = next((c for c in ("arm64", "x64", "amd64", "arm", "ia32") if re.search(rf"-{c}(-|$)", suffix)), None)
        if os_ is None or cpu is None:
            continue
        new = {"version": version.lstrip("^~="), "cpu": ["x64" if cpu == "amd64" else cpu], "optional": True, "os": [os_]}
        if "musl" in suffix:
            new["libc"] = ["musl"]
        packages[target] = new
        added.append(name)
packages_sorted = {k: packages[k] for k in sorted(packages, key=lambda k: (k != "", k))}
lock["packages"] = packages_sorted
json.dump(lock, open(path, "w"), indent=2)
open(path, "a").write("\n")
print(f"added {len(added)} platform entries: {', '.join(sorted(set(added)))}")
