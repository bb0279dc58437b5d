#!/usr/bin/env bash
# Writes DIR/policy.xml holding the distributed pixel cache's shared secret (mode 600), for
# MAGICK_CONFIGURE_PATH=DIR (merged with the system's policy, whose limits still apply).
# Usage: samples/dpc-policy.sh DIR [SECRET]   (default: 32 random hex digits, printed)
set -euo pipefail
dir=$1
secret=${2:-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')}
mkdir -p "$dir"
umask 077
cat >"$dir/policy.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policymap [
  <!ELEMENT policymap (policy)*>
  <!ATTLIST policymap xmlns CDATA #FIXED ''>
  <!ELEMENT policy EMPTY>
  <!ATTLIST policy xmlns CDATA #FIXED '' domain NMTOKEN #REQUIRED name NMTOKEN #IMPLIED pattern CDATA #IMPLIED
    rights NMTOKEN #IMPLIED stealth NMTOKEN #IMPLIED value CDATA #IMPLIED>
]>
<policymap>
  <policy domain="cache" name="shared-secret" value="$secret" stealth="true"/>
</policymap>
XML
[ $# -ge 2 ] || echo "$secret"
