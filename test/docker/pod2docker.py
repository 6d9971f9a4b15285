#!/usr/bin/python3
"""The `docker run` arguments that run a container as its manifest says.

    pod2docker.py FILE NAME IMAGE [CMD...]

FILE is a Kubernetes YAML file (any object with a pod template, or the
output of check-deploy --render) or an ECS task definition (.json); NAME
the container (a Kubernetes container or initContainer, or an ECS
container definition). Prints the arguments that go after `docker run`,
one per line: the container's user, read-only root file system, dropped
and added capabilities, no-new-privileges, memory and CPU limits, its
writable volumes as tmpfs, its environment, then IMAGE (which stands in
for the manifest's registry image) and its command and args. CMD, when
given, replaces the command (to look inside the same sandbox).

A value from a Secret (secretKeyRef, or ECS `secrets`) becomes `-e NAME`,
which docker fills from the caller's environment, so no secret is ever an
argument. Anything this does not know how to run the same way (a volume
type other than emptyDir, a fieldRef, privileged) is an error, never
dropped.
"""
import json
import re
import sys

import yaml


def die(msg):
    print(f"pod2docker: {msg}", file=sys.stderr)
    sys.exit(65)


def memory(q):
    """A Kubernetes quantity (256Mi, 1Gi, 500M) in docker's bytes."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|K|M|G|k)?", str(q))
    if not m:
        die(f"memory {q}: not a quantity this knows")
    mult = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3,
            "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3}[m.group(2)]
    return str(int(m.group(1)) * mult)


def cpus(q):
    q = str(q)
    return str(int(q[:-1]) / 1000) if q.endswith("m") else str(float(q))


def k8s(path, name, image, cmd):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for d in docs:
        spec = (d.get("spec") or {}).get("template", {}).get("spec") if d.get("kind") != "Pod" else d.get("spec")
        if not spec:
            continue
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            if c.get("name") == name:
                return k8s_container(spec, c, image, cmd)
    die(f"{path}: no container {name}")


def k8s_container(spec, c, image, cmd):
    args = []
    sc = dict(spec.get("securityContext") or {})
    sc.update(c.get("securityContext") or {})
    if sc.get("privileged"):
        die("privileged containers are not run here")
    if "runAsUser" in sc:
        user = str(sc["runAsUser"])
        if "runAsGroup" in sc:
            user += f":{sc['runAsGroup']}"
        args += ["--user", user]
    if sc.get("runAsNonRoot") and str(sc.get("runAsUser", "")) == "0":
        die("runAsNonRoot with runAsUser 0")
    if sc.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    caps = sc.get("capabilities") or {}
    for cap in caps.get("drop") or []:
        args += ["--cap-drop", cap]
    for cap in caps.get("add") or []:
        args += ["--cap-add", cap]
    if sc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    seccomp = (sc.get("seccompProfile") or {}).get("type")
    if seccomp not in (None, "RuntimeDefault"):
        die(f"seccompProfile {seccomp}: only RuntimeDefault (docker's default profile) is run here")
    limits = (c.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        args += ["--memory", memory(limits["memory"])]
    if "cpu" in limits:
        args += ["--cpus", cpus(limits["cpu"])]
    vols = {v["name"]: v for v in spec.get("volumes") or []}
    for m in c.get("volumeMounts") or []:
        v = vols.get(m["name"])
        if v is None:
            die(f"volumeMount {m['name']}: no such volume")
        if "emptyDir" not in v:
            die(f"volume {m['name']}: only emptyDir is run here")
        opt = m["mountPath"]
        size = (v["emptyDir"] or {}).get("sizeLimit")
        if size:
            opt += f":size={memory(size)}"
        args += ["--tmpfs", opt]
    for e in c.get("env") or []:
        if "value" in e:
            args += ["-e", f"{e['name']}={e['value']}"]
        elif "secretKeyRef" in (e.get("valueFrom") or {}):
            args += ["-e", e["name"]]
        else:
            die(f"env {e['name']}: only value and secretKeyRef are run here")
    if c.get("workingDir"):
        args += ["-w", c["workingDir"]]
    command = c.get("command")
    if cmd:
        command, rest = cmd, []
    else:
        rest = c.get("args") or []
    if command:
        args += ["--entrypoint", command[0], image] + command[1:] + rest
    else:
        args += [image] + rest
    return args


def ecs(path, name, image, cmd):
    with open(path) as f:
        td = json.load(f)
    for c in td.get("containerDefinitions") or []:
        if c.get("name") == name:
            break
    else:
        die(f"{path}: no container definition {name}")
    if c.get("privileged"):
        die("privileged containers are not run here")
    args = []
    if c.get("user"):
        args += ["--user", c["user"]]
    if c.get("readonlyRootFilesystem"):
        args.append("--read-only")
    lp = c.get("linuxParameters") or {}
    for cap in (lp.get("capabilities") or {}).get("drop") or []:
        args += ["--cap-drop", cap]
    for cap in (lp.get("capabilities") or {}).get("add") or []:
        args += ["--cap-add", cap]
    if lp.get("initProcessEnabled"):
        args.append("--init")
    # The container's hard limit, else the task's.
    mem = c.get("memory") or td.get("memory")
    if mem:
        args += ["--memory", str(int(mem) * 1024**2)]
    cpu = c.get("cpu") or td.get("cpu")
    if cpu:
        args += ["--cpus", str(int(cpu) / 1024)]
    vols = {v["name"]: v for v in td.get("volumes") or []}
    for m in c.get("mountPoints") or []:
        v = vols.get(m["sourceVolume"])
        if v is None:
            die(f"mountPoint {m['sourceVolume']}: no such volume")
        if set(v) != {"name"}:
            die(f"volume {v['name']}: only a task volume without host or configuration is run here")
        # A task volume of its own is an empty directory for the task's
        # life (Fargate's ephemeral storage).
        args += ["--tmpfs", m["containerPath"]]
    for e in c.get("environment") or []:
        args += ["-e", f"{e['name']}={e['value']}"]
    for s in c.get("secrets") or []:
        args += ["-e", s["name"]]
    if c.get("workingDirectory"):
        args += ["-w", c["workingDirectory"]]
    command = cmd or c.get("command")
    if c.get("entryPoint") and not cmd:
        ep = c["entryPoint"]
        args += ["--entrypoint", ep[0], image] + ep[1:] + (command or [])
    elif cmd:
        args += ["--entrypoint", cmd[0], image] + cmd[1:]
    else:
        args += [image] + (command or [])
    return args


def main(argv):
    if len(argv) < 3:
        print("usage: pod2docker.py FILE NAME IMAGE [CMD...]", file=sys.stderr)
        return 64
    path, name, image, cmd = argv[0], argv[1], argv[2], argv[3:]
    args = (ecs if path.endswith(".json") else k8s)(path, name, image, cmd)
    for a in args:
        if "\n" in a:
            die(f"an argument holds a newline: {a!r}")
        print(a)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
