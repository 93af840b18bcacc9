#!/usr/bin/env bash
# Packs what a GPU machine without Java needs to run kvgate (docs/GPU.md, "The GPU machine of this workplace"), into
# .gpu-djl/ (git-ignored):
#   base.tar.xz  a jlink'd Java 17 runtime (base/jre) and the third-party jars (base/lib): no CPU libtorch (the
#                machine's own torch is loaded), no pdfbox/fontbox (charts), no hadoop-client-api (Parquet: pass
#                --hadoop to add it as hadoop.tar.xz); other platforms' native folders stripped, every jar stored
#                uncompressed so that xz does the compressing (~34 MB)
#   kvgate/      kvgate's own jars (rerun with --kvgate-only after every build; < 1 MB)
# Build first: mvn -B -q -o -DskipTests install. DJL's JNI is not packed: it must be compiled on that machine against
# its torch, from DJL's own sources (docs/GPU.md step 1), which this project does not carry.
#   tools/pack_gpu_bundle.sh [--kvgate-only] [--hadoop]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/.gpu-djl"
cp_file="$root/cli/target/classpath.txt"
[ -f "$cp_file" ] && [ -f "$root/cli/target/kvgate-cli.jar" ] || { echo "pack_gpu_bundle: build first (mvn -B -q -o -DskipTests install)" >&2; exit 2; }
kvgate_only=0 hadoop=0
for a in "$@"; do
  case $a in --kvgate-only) kvgate_only=1 ;; --hadoop) hadoop=1 ;; *) echo "pack_gpu_bundle: unknown option $a" >&2; exit 2 ;; esac
done
mkdir -p "$out"
rm -rf "$out/kvgate.tmp" && mkdir "$out/kvgate.tmp"
cp "$root/cli/target/kvgate-cli.jar" $(tr ':' '\n' < "$cp_file" | grep "^$root/") "$out/kvgate.tmp/"
rm -rf "$out/kvgate" && mv "$out/kvgate.tmp" "$out/kvgate"
echo "kvgate jars: $(ls "$out/kvgate" | wc -l) in $out/kvgate"
[ $kvgate_only = 1 ] && exit 0

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/base/lib" "$work/hadoop/lib"
# java.desktop: hadoop's Configuration (Parquet) needs java.beans; AWT's native libraries are dropped after
jlink --add-modules java.base,java.logging,java.management,jdk.unsupported,java.sql,java.xml,java.naming,jdk.zipfs,java.desktop,java.security.jgss,jdk.security.auth \
  --strip-debug --no-header-files --no-man-pages --compress=0 --output "$work/base/jre"
rm -f "$work"/base/jre/lib/{libawt,libawt_headless,libawt_xawt,libfontmanager,libjavajpeg,liblcms,libmlib_image,libsplashscreen}.so
# re-stores a jar uncompressed, keeping only linux-x86_64's native folders (files beside them, such as
# tokenizers.properties, stay: without it every tokenizing command fails)
repack() { # jar destination
  local d="$work/x/$(basename "$1")"; mkdir -p "$d"; (cd "$d" && unzip -q "$1")
  case $(basename "$1") in
    tokenizers-*) find "$d/native/lib" -mindepth 1 -maxdepth 1 -type d ! -name linux-x86_64 -exec rm -rf {} + ;;
    zstd-jni-*) rm -rf "$d"/{aix,darwin,freebsd,win}; find "$d/linux" -mindepth 1 -maxdepth 1 -type d ! -name amd64 -exec rm -rf {} + ;;
    snappy-java-*) find "$d/org/xerial/snappy/native" -mindepth 1 -maxdepth 1 -type d ! -name Linux -exec rm -rf {} +
                   find "$d/org/xerial/snappy/native/Linux" -mindepth 1 -maxdepth 1 -type d ! -name x86_64 -exec rm -rf {} + ;;
    pytorch-jni-*) find "$d" -type d \( -name 'osx*' -o -name 'win*' -o -name '*aarch64*' \) -prune -exec rm -rf {} + ;;
  esac
  (cd "$d" && zip -q -0 -r -X "$2/$(basename "$1")" .)
  rm -rf "$d"
}
# JNA stays whole: DJL counts GPUs by loading libcudart through it
tr ':' '\n' < "$cp_file" | grep -v "^$root/" | grep -v -E "pytorch-native-cpu|/pdfbox-|/fontbox-|hadoop-client-api" \
  | while read -r jar; do repack "$jar" "$work/base/lib"; done
(cd "$work" && tar cf - base | xz -T0 -6 > "$out/base.tar.xz.tmp") && mv "$out/base.tar.xz.tmp" "$out/base.tar.xz"
echo "runtime and $(ls "$work/base/lib" | wc -l) jars: $out/base.tar.xz ($(du -h "$out/base.tar.xz" | cut -f1))"
if [ $hadoop = 1 ]; then
  tr ':' '\n' < "$cp_file" | grep "hadoop-client-api" | while read -r jar; do repack "$jar" "$work/hadoop/lib"; done
  (cd "$work" && tar cf - hadoop | xz -T0 -6 > "$out/hadoop.tar.xz.tmp") && mv "$out/hadoop.tar.xz.tmp" "$out/hadoop.tar.xz"
  echo "hadoop-client-api: $out/hadoop.tar.xz ($(du -h "$out/hadoop.tar.xz" | cut -f1))"
fi
