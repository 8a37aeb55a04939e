#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build: every target of fuzz/CMakeLists.txt, built the standard
# way from $CC $CFLAGS (the service's sanitizer and coverage flags) and linked with
# $LIB_FUZZING_ENGINE (libFuzzer, AFL++ or honggfuzz), into $OUT with its seed corpus and
# dictionary. Runs from the repository root ($SRC/gomalloc); also usable by hand:
#   CC=clang-14 CXX=clang++-14 CFLAGS="-fsanitize=address,fuzzer-no-link" \
#   LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/out .clusterfuzzlite/build.sh
cd "$(dirname "$0")/.."
flags="-std=gnu11 -DGM_DEBUG=1 -Ialloc -Ialloc/include -Ifuzz -Itests"
work=$(mktemp -d)
objs=()
for src in alloc/*.c; do
  case $src in alloc/mksizeclasses.c) continue ;; esac # the table generator, not the library
  obj=$work/$(basename "$src" .c).o
  $CC $CFLAGS $flags -DGM_BUILDING=1 -c "$src" -o "$obj"
  objs+=("$obj")
done
for t in $(sed -n 's/^gm_add_fuzz_target(\([a-z_0-9]*\).*/\1/p' fuzz/CMakeLists.txt); do
  $CC $CFLAGS $flags -c "fuzz/${t}_fuzzer.c" -o "$work/${t}_fuzzer.o"
  $CXX $CXXFLAGS "$work/${t}_fuzzer.o" "${objs[@]}" $LIB_FUZZING_ENGINE -lpthread \
    -o "$OUT/${t}_fuzzer"
  if [ -n "$(ls -A "fuzz/corpus/$t" 2>/dev/null)" ]; then
    (cd "fuzz/corpus/$t" && zip -q -j "$OUT/${t}_fuzzer_seed_corpus.zip" ./*)
  fi
  [ -f "fuzz/$t.dict" ] && cp "fuzz/$t.dict" "$OUT/${t}_fuzzer.dict"
done
rm -rf "$work"
