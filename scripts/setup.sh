#!/usr/bin/env bash
# Set up a fresh machine: Debian packages the tools and tests need, a virtualenv in .venv, and
# ccc-runtime (runtime/) and ccc-dsl installed into it (editable) with its development dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: graphviz renders `ccc graph --format svg`; openssh-server, kamailio (the
# registrar of the registration tests) and sip-tester (SIPp) are peers the tests start.
DEB_PACKAGES=(graphviz openssh-server kamailio sip-tester espeak-ng sox)  # TTS and prompt conversion for live calls
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install the Debian packages: ${missing[*]} (not root, skipping)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml runtime/pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python dependencies into .venv (log: .venv/install.log)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e ./runtime -e '.[dev]'; } >.venv/install.log 2>&1; then
    cat .venv/install.log >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Byte-compile our editable packages, as pip does for an installed wheel: with
# PYTHONDONTWRITEBYTECODE set (as on the project machine) every `ccc` run would otherwise
# compile about 150 modules from source. Stale files are detected by mtime and ignored.
.venv/bin/python -m compileall -q -j 0 ccc_dsl runtime/ccc_runtime >/dev/null
# The grammar's parse tables, kept beside it (ccc_dsl/grammar/ivr.lark-tables): built once here
# instead of on the first parse of every fresh cache.
.venv/bin/python -c "from ccc_dsl.grammar.parser import lark_parser; lark_parser()"
