# Sourced by setup.sh: install Debian packages without starting (or leaving
# enabled) the daemons they ship, and without touching any process already running.
# Needs log().

# policy-rc.d (Debian's invoke-rc.d policy): exit 101 = "action forbidden", which
# deb-systemd-invoke and invoke-rc.d honour, so maintainer scripts start nothing.
# Ours is there only while apt-get install runs; a policy-rc.d the machine already
# had (Docker images ship one) is put back byte for byte.
POLICY_RC=${POLICY_RC:-/usr/sbin/policy-rc.d}
POLICY_RC_MARK='# lvsd scripts/setup.sh: temporary, removed after apt-get install'
policy_rc_ours() { [ -f "$POLICY_RC" ] && grep -qxF "$POLICY_RC_MARK" "$POLICY_RC"; }
policy_rc_restore() {
  policy_rc_ours || return 0
  if [ -e "$POLICY_RC.lvsd-saved" ]; then mv -f "$POLICY_RC.lvsd-saved" "$POLICY_RC"; else rm -f "$POLICY_RC"; fi
}
policy_rc_block() {
  policy_rc_restore # an earlier run that was killed mid-install left ours behind
  if [ -e "$POLICY_RC" ]; then cp -p "$POLICY_RC" "$POLICY_RC.lvsd-saved"; fi
  printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_RC_MARK" > "$POLICY_RC.lvsd-new"
  chmod 0755 "$POLICY_RC.lvsd-new"
  mv -f "$POLICY_RC.lvsd-new" "$POLICY_RC"
}

# Packages dpkg knows in any state (a removed-but-not-purged package keeps the
# user's enable/disable choice, so it counts as theirs).
installed_packages() { dpkg-query -W -f '${Package}\n' 2>/dev/null | sort -u; }

# Units that came with packages this run installed and that the install enabled
# (deb-systemd-helper enables at boot even when policy-rc.d forbids the start):
# disable those, without --now, and nothing else.
disable_units_enabled_by() {
  command -v systemctl >/dev/null 2>&1 || return 0
  local pkg unit
  for pkg in $(comm -13 <(printf '%s\n' "$1") <(installed_packages)); do
    for unit in $(dpkg-query -L "$pkg" 2>/dev/null | grep -E '^(/usr)?/lib/systemd/system/[^/]+\.service$' | xargs -r -n1 basename); do
      if [ "$(systemctl is-enabled "$unit" 2>/dev/null)" = enabled ]; then
        log "disabling $unit (enabled by the $pkg package just installed)"
        systemctl disable "$unit" >/dev/null 2>&1 || true
      fi
    done
  done
}
