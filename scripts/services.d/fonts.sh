#!/usr/bin/env bash
# The monthly VOC report (PDF) embeds IPAex Gothic (TrueType: ReportLab cannot embed the
# CFF outlines of fonts-noto-cjk); its tests turn pages into images with poppler's pdftoppm.
set -euo pipefail
missing=()
[[ -f /usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf ]] || missing+=(fonts-ipaexfont-gothic)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)
if ((${#missing[@]})); then
    [[ -n "${APT_UPDATED:-}" ]] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
