# Helpers for device-session scripts (source it): everything goes under $W = $OUT/work, a watchdog packs $W into
# $OUT/<name>.tar.gz before the call's time limit (the device tool returns at most 8 files), `st` runs one step
# with a time limit and logs its exit status and duration to $W/logs/steps.txt.
: "${OUT:?set OUT}"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
W=$OUT/work
L=$W/logs
mkdir -p "$L"
# PACK_NAME: the tarball's name, set by the script before or after sourcing this file (default "results")
pack() { (cd "$W" && tar czf "$OUT/${PACK_NAME:-results}.tar.gz" .) 2>/dev/null; echo "packed $OUT/${PACK_NAME:-results}.tar.gz"; }
start_watchdog() {  # start_watchdog SECONDS: pack at that time whatever runs, interrupt the steps, pack again
  ( sleep "$1" || exit 0  # stopped (stop_watchdog kills the sleep): nothing to do
    touch "$W/.deadline"; echo "watchdog: packing"; pack; pkill -INT -f lightning_bench; pkill -INT -f tune_la2
    sleep 8; pack ) &
  WATCHDOG=$!
}
stop_watchdog() {  # end the watchdog's sleep (a live sleep holds the call's stdout open until it ends): it exits
  pkill -P "$WATCHDOG" sleep 2>/dev/null; wait "$WATCHDOG" 2>/dev/null; pack; }
st() {  # st NAME SECONDS COMMAND...
  local name=$1 t=$2 t0=$SECONDS
  shift 2
  if [ -e "$W/.deadline" ]; then echo "== $name skipped (past the watchdog)" | tee -a "$L/steps.txt"; return; fi
  timeout -s INT --kill-after=10 "$t" "$@" > "$L/$name.log" 2>&1
  echo "== $name exit $? after $((SECONDS - t0)) s" | tee -a "$L/steps.txt"
}
