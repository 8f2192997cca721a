#!/usr/bin/env bash
# Installs what the crate needs at run time on a fresh Debian/Ubuntu machine: a Vulkan
# driver. On a machine without a GPU that is lavapipe (Mesa's software Vulkan driver).
# Skipped when a Vulkan ICD is already installed.
set -euo pipefail
if ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1 && ldconfig -p | grep -q libvulkan.so.1; then
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
