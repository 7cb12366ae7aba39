#!/usr/bin/env bash
# Checks everything under dashboards/: Prometheus config, alert rules and
# their unit tests, Alertmanager config, the Grafana dashboard JSON and
# provisioning, and docker-compose.yml.
#
#   bash .ci/check-dashboards.sh        (from any directory)
#
# Needs promtool and amtool (Debian packages prometheus and
# prometheus-alertmanager; installed here when missing and running as root),
# node for the dashboard JSON, and python3 with PyYAML for the YAML-only files
# (skipped with a notice when PyYAML is missing). Starts no service.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
D=dashboards

passed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }

# --- tools ------------------------------------------------------------------
if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "promtool/amtool missing: apt-get install prometheus prometheus-alertmanager" >&2
    exit 1
  fi
  # The packages' postinst would start prometheus (:9090) and alertmanager
  # (:9093) where systemd runs; only the CLIs are wanted, so deny service
  # starts for the duration of the install unless a policy already exists.
  own_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  trap '[[ -n "$own_policy" ]] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager >/dev/null
  [[ -n "$own_policy" ]] && rm -f /usr/sbin/policy-rc.d
  own_policy=""
fi
echo "using $(promtool --version 2>&1 | head -1); $(amtool --version 2>&1 | head -1)"

# --- Prometheus ---------------------------------------------------------------
# prometheus.yml reads the bearer token from /etc/prometheus/llm-functions.token;
# a full check fails while that file does not exist, so without it check the
# syntax only. prometheus.local.yml gets the full check, which also loads the
# same alerts.yml through rule_files.
if [[ -r /etc/prometheus/llm-functions.token ]]; then
  promtool check config "$D/prometheus/prometheus.yml"
else
  echo "note: /etc/prometheus/llm-functions.token absent, checking prometheus.yml syntax only"
  promtool check config --syntax-only "$D/prometheus/prometheus.yml"
fi
pass "prometheus.yml"
promtool check config "$D/prometheus/prometheus.local.yml"
pass "prometheus.local.yml"

promtool check rules "$D/prometheus/alerts.yml"
pass "alerts.yml"

promtool test rules "$D/prometheus/alerts.test.yml"
groups=$(grep -c '^  - name:' "$D/prometheus/alerts.test.yml")
cases=$(grep -c 'eval_time:' "$D/prometheus/alerts.test.yml")
pass "alerts.test.yml ($groups test groups, $cases alert evaluations)"

# Every alert in alerts.yml must be exercised by a test that fires it and by
# one that expects it quiet.
for alert in $(sed -n 's/^ *- alert: *//p' "$D/prometheus/alerts.yml"); do
  awk -v a="$alert" '
    $0 ~ "alertname: " a "$" { inside = 1; next }
    inside && /exp_alerts: \[\]/ { quiet = 1; inside = 0 }
    inside && /exp_alerts:$/ { fires = 1; inside = 0 }
    END { exit !(quiet && fires) }' "$D/prometheus/alerts.test.yml" \
    || { echo "alert $alert lacks a firing or a quiet test case" >&2; exit 1; }
done
pass "every alert has a firing and a quiet test"

# --- Alertmanager ---------------------------------------------------------------
amtool check-config "$D/alertmanager/alertmanager.yml"
pass "alertmanager.yml"

# --- Grafana dashboard ---------------------------------------------------------
# Structure: uid, variables, every panel on ${datasource} with a unit and
# targets[].expr. Then every expr, with Grafana's variables substituted as
# Grafana would, goes through promtool as a recording rule: a PromQL syntax
# error fails here.
exprs_rules=$(mktemp --suffix=.yml)
trap 'rm -f "$exprs_rules"' EXIT
node - "$D/grafana/llm-functions.json" "$exprs_rules" <<'EOF'
const fs = require("fs");
const [file, out] = process.argv.slice(2);
const d = JSON.parse(fs.readFileSync(file, "utf8"));
const errors = [];
const fail = (m) => errors.push(m);

if (d.uid !== "llm-functions") fail(`uid is ${d.uid}, expected llm-functions`);
if (!(d.schemaVersion >= 39)) fail(`schemaVersion ${d.schemaVersion} < 39`);
const vars = Object.fromEntries((d.templating?.list ?? []).map((v) => [v.name, v]));
const ds = vars.datasource;
if (!ds || ds.type !== "datasource" || ds.query !== "prometheus") fail("no datasource variable of type datasource/prometheus");
for (const name of ["model", "client"]) {
  const v = vars[name];
  if (!v) { fail(`no ${name} variable`); continue; }
  const q = typeof v.query === "string" ? v.query : v.query?.query;
  if (v.type !== "query" || !/^label_values\(/.test(q ?? "")) fail(`${name}: not a label_values query`);
  if (!v.multi || !v.includeAll || v.allValue !== ".*") fail(`${name}: needs multi, includeAll and allValue ".*"`);
  if (v.datasource?.uid !== "${datasource}") fail(`${name}: datasource is not \${datasource}`);
}

const allowed = new Set(["row", "timeseries", "stat", "bargauge", "table"]);
const ids = new Set();
const rules = [];
for (const p of d.panels ?? []) {
  const where = `panel ${p.id} "${p.title}"`;
  if (!allowed.has(p.type)) fail(`${where}: type ${p.type}`);
  if (ids.has(p.id)) fail(`${where}: duplicate id`);
  ids.add(p.id);
  const g = p.gridPos ?? {};
  if (!(g.w > 0 && g.h > 0 && g.x >= 0 && g.x + g.w <= 24 && g.y >= 0)) fail(`${where}: bad gridPos`);
  if (p.type === "row") continue;
  if (p.datasource?.uid !== "${datasource}") fail(`${where}: datasource is not \${datasource}`);
  if (!p.fieldConfig?.defaults?.unit) fail(`${where}: no unit`);
  if (!p.description) fail(`${where}: no description`);
  if (!p.targets?.length) fail(`${where}: no targets`);
  for (const t of p.targets ?? []) {
    if (t.datasource?.uid !== "${datasource}") fail(`${where} ${t.refId}: target datasource is not \${datasource}`);
    if (!t.expr) { fail(`${where} ${t.refId}: no expr`); continue; }
    const e = t.expr
      .replaceAll("$__rate_interval", "1m").replaceAll("$__range", "1h")
      .replaceAll("$model", ".*").replaceAll("$client", ".*");
    if (e.includes("$")) fail(`${where} ${t.refId}: unknown variable in ${t.expr}`);
    rules.push({ record: `dashboard:panel_${p.id}_${t.refId}`, expr: e });
  }
}
if (errors.length) { console.error(errors.join("\n")); process.exit(1); }
// JSON is valid YAML: promtool reads this file as a rule file.
fs.writeFileSync(out, JSON.stringify({ groups: [{ name: "dashboard-exprs", rules }] }));
console.log(`${ids.size} panels, ${rules.length} queries`);
EOF
promtool check rules "$exprs_rules" >/dev/null
pass "grafana/llm-functions.json (structure, and every expr parses as PromQL)"

# --- YAML-only files ----------------------------------------------------------
if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$D" <<'EOF'
import os, sys, yaml
d = sys.argv[1]
ds = yaml.safe_load(open(f"{d}/grafana/provisioning/datasources/prometheus.yml"))["datasources"][0]
assert ds["uid"] == "prometheus" and ds["type"] == "prometheus", ds
assert ds["url"] == "http://prometheus:9090", ds["url"]
prov = yaml.safe_load(open(f"{d}/grafana/provisioning/dashboards/llm-functions.yml"))["providers"][0]
assert prov["type"] == "file" and prov["options"]["path"], prov
compose = yaml.safe_load(open(f"{d}/docker-compose.yml"))
services = compose["services"]
assert {"azurite", "local", "prometheus", "alertmanager", "grafana"} <= set(services), services.keys()
named = set(compose.get("volumes") or {})
for name, s in services.items():
    assert "image" in s, f"{name}: no image"
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            assert os.path.exists(os.path.join(d, src)), f"{name}: {src} does not exist"
        else:
            assert src in named, f"{name}: volume {src} not declared"
# Grafana mounts the dashboard where the provider looks for it.
mounts = [v.split(":")[1] for v in services["grafana"]["volumes"]]
assert any(m.startswith(prov["options"]["path"] + "/") for m in mounts), mounts
print("provisioning and docker-compose.yml parse and agree")
EOF
  pass "grafana provisioning and docker-compose.yml"
else
  echo "note: python3 with PyYAML not found, provisioning and docker-compose.yml not parsed"
fi

echo "dashboards: $passed passed, 0 failed"
