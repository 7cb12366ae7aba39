#!/usr/bin/env bash
# Installs the Bicep CLI from NuGet (the only registry this project's machines reach)
# into .tools/bicep/bicep (gitignored) and prints its path.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail

BICEP_VERSION="${BICEP_VERSION:-0.49.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.tools/bicep"
BIN="$DEST/bicep"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export BICEP_TRACING_ENABLED=false

if [[ -x "$BIN" && -f "$DEST/version" && "$(cat "$DEST/version")" == "$BICEP_VERSION" ]]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The package is a tool payload, not a library: a throwaway project with
# <PackageDownload> makes `dotnet restore` fetch it without referencing it.
# The empty Directory.*.props keep the repo's central package settings out.
cat > "$WORK/Directory.Build.props" <<'XML'
<Project />
XML
cat > "$WORK/Directory.Packages.props" <<'XML'
<Project />
XML
cat > "$WORK/BicepDownload.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[$BICEP_VERSION]" />
  </ItemGroup>
</Project>
XML

dotnet restore "$WORK/BicepDownload.csproj" --packages "$WORK/packages" >&2

SRC="$WORK/packages/azure.bicep.commandline.linux-x64/$BICEP_VERSION/tools/bicep"
if [[ ! -f "$SRC" ]]; then
  echo "install-bicep: bicep binary not found at $SRC" >&2
  exit 1
fi

cp "$SRC" "$BIN.tmp"
chmod +x "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$BICEP_VERSION" > "$DEST/version"
"$BIN" --version >&2
echo "$BIN"
