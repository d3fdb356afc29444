#!/usr/bin/env bash
# Installs espeak-ng, the speech synthesiser that lstmkit's speech task uses to make its
# spoken-digit data offline (Debian package `espeak-ng`, GPL-3.0; lstmkit only runs the
# program, it links nothing). Called by `make install`.
#
# Never fails the install: when espeak-ng is already there, or apt-get is missing, or we
# are not root (and sudo would prompt), it says so and exits 0. The speech tests then
# skip with the reason "espeak-ng is not installed"; everything else still runs.
set -u

if command -v espeak-ng >/dev/null 2>&1; then
    echo "install_speech_deps: espeak-ng already installed ($(command -v espeak-ng))"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_speech_deps: apt-get not found; install espeak-ng by hand for the speech task (speech tests will skip)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_speech_deps: not root and no password-less sudo; run 'apt-get install espeak-ng' as root for the speech task (speech tests will skip)"
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends espeak-ng >/dev/null; then
    echo "install_speech_deps: installed espeak-ng ($(espeak-ng --version 2>/dev/null | head -n1))"
else
    echo "install_speech_deps: apt-get could not install espeak-ng; the speech tests will skip"
fi
exit 0
