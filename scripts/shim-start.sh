#!/bin/sh
# dist/containerd-shim-tsrt-v2: tsrt's containerd shim (docs/shim.md), as containerd runs it.
#
# containerd runs `containerd-shim-tsrt-v2 -namespace N -address A -publish-binary P -id ID
# start` in the bundle directory for every task, and waits for it to print the address of
# the shim that will serve the task. That path is this shell script, without node: the
# task's group is its pod (the sandbox id annotation of config.json, read with builtins)
# or, without one, every such task of this containerd and namespace; the address is
# containerd's scheme, /run/containerd/s/sha256(A/N/group). If the group's shim runs
# (alive, lingering after its last task: src/shim/lifetime.ts) and takes the task's claim,
# the address is printed at once; otherwise the daemon is started (node,
# containerd-shim-tsrt-v2.cjs, in a session of its own) and the address printed once it
# listens: it says so by closing its fd 3, the write end of the command substitution's
# pipe (containerd dials the socket once, at once). Every other command (delete, the
# daemon) is node's.
cmd= ns= address= publish= id= bundle= debug= flag=
for a in "$@"; do
  case $flag in
    -namespace|--namespace) ns=$a ;;
    -address|--address) address=$a ;;
    -publish-binary|--publish-binary) publish=$a ;;
    -id|--id) id=$a ;;
    -bundle|--bundle) bundle=$a ;;
  esac
  if [ -n "$flag" ]; then flag=; continue; fi
  case $a in
    -namespace|--namespace|-address|--address|-publish-binary|--publish-binary|-id|--id|-bundle|--bundle|-socket|--socket) flag=$a ;;
    -debug|--debug) debug=-debug ;;
    -*) ;;
    *) cmd=$a ;;
  esac
done

# node's: no --require preload or CA certificates (35 ms) from the caller's environment
unset NODE_OPTIONS NODE_EXTRA_CA_CERTS

# delete after a shim exited: containerd runs it every time (cleanupAfterDeadShim). When
# the shim removed its container (no tsrt state) and unmounted the rootfs (empty), node
# has nothing to do: the answer is a DeleteResponse of exit status 137 (128 + SIGKILL, as
# the runc shim's), protobuf field 2 as a varint.
if [ "$cmd" = delete ] && [ -n "$id" ] && [ ! -e "${TSRT_SHIM_ROOT:-/run/containerd/tsrt}/$ns/$id" ]; then
  set -- "${bundle:-.}"/rootfs/*
  if [ ! -e "$1" ]; then
    printf '\020\211\001'
    exit 0
  fi
  set -- -namespace "$ns" -address "$address" -publish-binary "$publish" -id "$id" -bundle "$bundle" delete
fi
if [ "$cmd" != start ]; then
  exec node "${0%/*}/containerd-shim-tsrt-v2.cjs" "$@"
fi

# the group: the pod, or every task without one (of this containerd and namespace)
group='*'
if [ -r config.json ]; then
  IFS= read -r spec < config.json || true
  rest=${spec#*\"io.kubernetes.cri.sandbox-id\":\"}
  if [ "$rest" != "$spec" ] && [ -n "${rest%%\"*}" ]; then group=${rest%%\"*}; fi
fi
dir=${TSRT_SHIM_SOCKET_DIR:-/run/containerd/s}
# The socket's name, sha256(A/N/group), needs a process (sha256sum: ~9 ms, as much as the
# rest of this script): it is computed once per group and kept in a memo, "HASH KEY",
# beside the sockets, for the group's later tasks. The memo's name is made of N and the
# group when both are plain names (containerd's namespace rule; a sandbox id is hex), and
# the key in it must match whole: a memo of another containerd, or a half-written one, is
# recomputed. A pod's memo is removed with its daemon (TSRT_SHIM_MEMO); the one of tasks
# without a pod is kept (one per containerd namespace).
key="$address/$ns/$group"
memo= hash= mkey=
case $ns in
  ''|*[!A-Za-z0-9._-]*) ;;
  *)
    if [ "$group" = '*' ]; then
      memo="$dir/tsrt-memo,$ns"
    else
      case $group in ''|*[!A-Za-z0-9._-]*) ;; *) memo="$dir/tsrt-memo,$ns,$group" ;; esac
    fi ;;
esac
if [ -n "$memo" ] && [ -r "$memo" ]; then
  read -r hash mkey < "$memo" || :
  [ "$mkey" = "$key" ] || hash=
fi
if [ -z "$hash" ]; then
  hash=$(printf '%s' "$key" | sha256sum)
  hash=${hash%% *}
  [ -z "$memo" ] || [ ! -d "$dir" ] || { printf '%s %s\n' "$hash" "$key" > "$memo"; } 2>/dev/null || :
fi
sock=$dir/$hash
# A pod's daemon does not linger (no later task joins a pod whose tasks are all gone) and
# removes the pod's memo when it exits.
if [ "$group" != '*' ]; then
  export TSRT_SHIM_LINGER=0
  [ -z "$memo" ] || export TSRT_SHIM_MEMO="$memo"
fi
claims=$sock.claims
printf 'unix://%s' "$sock" > address

# The group's daemon serves this task if it takes the task's claim (src/shim/lifetime.ts):
# the claim is written first, then the daemon is checked alive, so a daemon ending its
# linger either sees the claim and stays, or removed $claims first and the write fails.
alive() {
  [ -S "$sock" ] && [ -r "$sock.pid" ] || return 1
  pid= start= stat=
  read -r pid start < "$sock.pid" || :
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  read -r stat < "/proc/$pid/stat" || :
  # after the last ") ": the state (not Z, a zombie not yet reaped), then the start time is
  # the 20th word (a reused pid's differs)
  set -- ${stat##*) }
  [ $# -ge 20 ] && [ "$1" != Z ] || return 1
  shift 19
  [ "$1" = "$start" ]
}
claim() {
  # (a regular builtin: a failed redirection of `:` would end the script)
  { true > "$claims/$id"; } 2>/dev/null || return 1
  alive && return 0
  rm -f "$claims/$id"
  return 1
}

if ! claim; then
  [ -d "$dir" ] || mkdir -p -m 0711 "$dir"
  # one start script at a time starts the group's daemon: a lock file its holder unlinks
  # before unlocking, so a waiter whose file is no longer at the path takes it again
  while :; do
    exec 9>>"$sock.lock"
    flock 9 || exit 1
    [ "/proc/$$/fd/9" -ef "$sock.lock" ] && break
  done
  if ! claim; then
    # none, or a crashed one's files (rm is a process: only when there are some)
    if [ -e "$sock" ] || [ -e "$sock.pid" ] || [ -e "$claims" ]; then rm -rf "$sock" "$sock.pid" "$claims"; fi
    mkdir -m 0700 "$claims" && true > "$claims/$id"
    ready=$(TSRT_SHIM_READY_FD=3 setsid -f node "${0%/*}/containerd-shim-tsrt-v2.cjs" \
      -namespace "$ns" -address "$address" -publish-binary "$publish" -id "$id" $debug -socket "$sock" 3>&1 9>&- </dev/null >/dev/null 2>&1)
    if [ "$ready" != ready ]; then
      rm -rf "$claims"
      rm -f "$sock.lock"
      echo "containerd-shim-tsrt-v2: the shim daemon for $id did not start (its messages are in containerd's log)" >&2
      exit 1
    fi
  fi
  rm -f "$sock.lock"
  exec 9>&-
fi
printf 'unix://%s' "$sock"
