#!/usr/bin/env bash
# The SFTP delivery tests run a real OpenSSH sshd on loopback: install it when it is missing.
# One stat when it is there, so cheap to call before every test run.
set -euo pipefail
if [ ! -x /usr/sbin/sshd ]; then
  echo "bootstrap: installing openssh-server for the SFTP tests (once, about 20 s)" >&2
  apt_install='apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null'
  if [ "$(id -u)" = 0 ]; then sh -c "$apt_install"
  elif command -v sudo >/dev/null 2>&1; then sudo -n sh -c "$apt_install"  # -n: fail, not hang, without a password
  else echo "bootstrap: /usr/sbin/sshd is missing and neither root nor sudo is available to install openssh-server; the SFTP tests need it" >&2; exit 1
  fi
  [ -x /usr/sbin/sshd ] || { echo "bootstrap: installing openssh-server did not provide /usr/sbin/sshd" >&2; exit 1; }
fi
