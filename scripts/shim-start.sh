#!/bin/sh
# dist/containerd-shim-tsrt-v2: tsrt's containerd shim (docs/shim.md), as containerd runs it.
#
# containerd runs `containerd-shim-tsrt-v2 -namespace N -address A -publish-binary P -id ID
# start` in the bundle directory for every task, and waits for it to print the address of
# the shim that will serve the task. That path is this shell script, without node: the
# task's group is its pod (the sandbox id annotation of config.json, read with builtins)
# or itself; the address is containerd's scheme, /run/containerd/s/sha256(A/N/group). If
# the group's shim runs (its socket and live pid are there) the address is printed at once; otherwise
# the daemon is started (node, containerd-shim-tsrt-v2.cjs, in a session of its own) and
# the address printed once it listens: it says so by closing its fd 3, the write end of
# the command substitution's pipe (containerd dials the socket once, at once). Every
# other command (delete, the daemon) is node's.
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
  exec env -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS node "${0%/*}/containerd-shim-tsrt-v2.cjs" "$@"
fi

group=$id
if [ -r config.json ]; then
  IFS= read -r spec < config.json || true
  rest=${spec#*\"io.kubernetes.cri.sandbox-id\":\"}
  if [ "$rest" != "$spec" ] && [ -n "${rest%%\"*}" ]; then group=${rest%%\"*}; fi
fi
hash=$(printf '%s' "$address/$ns/$group" | sha256sum)
dir=${TSRT_SHIM_SOCKET_DIR:-/run/containerd/s}
sock=$dir/${hash%% *}
printf 'unix://%s' "$sock" > address

# the pod's shim runs if its socket is there and the pid it wrote beside it is alive (a
# crashed shim leaves both: a new daemon replaces them)
running=
if [ "$group" != "$id" ] && [ -S "$sock" ] && [ -r "$sock.pid" ]; then
  read -r pid < "$sock.pid" || true
  # alive: /proc/PID/stat's state (after the last ") ") is not Z, a zombie not yet reaped
  if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then
    read -r stat < "/proc/$pid/stat" || true
    state=${stat##*) }
    [ "${state%% *}" = Z ] || running=1
  fi
fi
if [ -z "$running" ]; then
  [ -d "$dir" ] || mkdir -p -m 0711 "$dir"
  [ ! -e "$sock" ] || rm -f "$sock" "$sock.pid"
  ready=$(TSRT_SHIM_READY_FD=3 setsid -f env -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS node "${0%/*}/containerd-shim-tsrt-v2.cjs" \
    -namespace "$ns" -address "$address" -publish-binary "$publish" -id "$id" $debug -socket "$sock" 3>&1 </dev/null >/dev/null 2>&1)
  if [ "$ready" != ready ]; then
    echo "containerd-shim-tsrt-v2: the shim daemon for $id did not start (its messages are in containerd's log)" >&2
    exit 1
  fi
fi
printf 'unix://%s' "$sock"
