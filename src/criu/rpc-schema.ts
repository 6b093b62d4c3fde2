// The messages of CRIU's RPC (`criu swrk`), as a protobufjs JSON descriptor: the field
// numbers and types of CRIU's published rpc.proto (proto2), for the fields tsrt sends or
// reads. protobufjs ignores fields it does not know, so a newer CRIU's answers decode.
type Field = { type: string; id: number; rule?: 'required' | 'repeated' };
type Fields = Record<string, Field>;

const opt = (type: string, id: number): Field => ({ type, id });
const req = (type: string, id: number): Field => ({ type, id, rule: 'required' });
const rep = (type: string, id: number): Field => ({ type, id, rule: 'repeated' });

const message = (fields: Fields) => ({ fields });

export const CRIU_RPC_DESCRIPTOR = {
  nested: {
    criu_page_server_info: message({ address: opt('string', 1), port: opt('int32', 2), pid: opt('int32', 3), fd: opt('int32', 4) }),
    ext_mount_map: message({ key: req('string', 1), val: req('string', 2) }),
    join_namespace: message({ ns: req('string', 1), ns_file: req('string', 2), extra_opt: opt('string', 3) }),
    inherit_fd: message({ key: req('string', 1), fd: req('int32', 2) }),
    cgroup_root: message({ ctrl: opt('string', 1), path: req('string', 2) }),
    criu_cg_mode: { values: { IGNORE: 0, CG_NONE: 1, PROPS: 2, SOFT: 3, FULL: 4, STRICT: 5, DEFAULT: 6 } },
    criu_opts: message({
      images_dir_fd: req('int32', 1),
      pid: opt('int32', 2),
      leave_running: opt('bool', 3),
      ext_unix_sk: opt('bool', 4),
      tcp_established: opt('bool', 5),
      evasive_devices: opt('bool', 6),
      shell_job: opt('bool', 7),
      file_locks: opt('bool', 8),
      log_level: opt('int32', 9),
      log_file: opt('string', 10),
      ps: opt('criu_page_server_info', 11),
      notify_scripts: opt('bool', 12),
      root: opt('string', 13),
      parent_img: opt('string', 14),
      track_mem: opt('bool', 15),
      auto_dedup: opt('bool', 16),
      work_dir_fd: opt('int32', 17),
      ext_mnt: rep('ext_mount_map', 23),
      manage_cgroups: opt('bool', 24),
      cg_root: rep('cgroup_root', 25),
      rst_sibling: opt('bool', 26),
      inherit_fd: rep('inherit_fd', 27),
      manage_cgroups_mode: opt('criu_cg_mode', 34),
      external: rep('string', 37),
      empty_ns: opt('uint32', 38),
      join_ns: rep('join_namespace', 39),
      freeze_cgroup: opt('string', 44),
      lazy_pages: opt('bool', 48),
      orphan_pts_master: opt('bool', 50),
      config_file: opt('string', 51),
      lsm_profile: opt('string', 53),
      lsm_mount_context: opt('string', 63),
    }),
    criu_dump_resp: message({ restored: opt('bool', 1) }),
    criu_restore_resp: message({ pid: req('int32', 1) }),
    criu_notify: message({ script: opt('string', 1), pid: opt('int32', 2) }),
    criu_req_type: {
      values: {
        EMPTY: 0, DUMP: 1, RESTORE: 2, CHECK: 3, PRE_DUMP: 4, PAGE_SERVER: 5, NOTIFY: 6, CPUINFO_DUMP: 7,
        CPUINFO_CHECK: 8, FEATURE_CHECK: 9, VERSION: 10, WAIT_PID: 11, PAGE_SERVER_CHLD: 12, SINGLE_PRE_DUMP: 13,
      },
    },
    criu_features: message({ mem_track: opt('bool', 1), lazy_pages: opt('bool', 2), pidfd_store: opt('bool', 3) }),
    criu_version: message({
      major_number: req('int32', 1), minor_number: req('int32', 2), gitid: opt('string', 3),
      sublevel: opt('int32', 4), extra: opt('int32', 5), name: opt('string', 6),
    }),
    criu_req: message({
      type: req('criu_req_type', 1), opts: opt('criu_opts', 2), notify_success: opt('bool', 3),
      keep_open: opt('bool', 4), features: opt('criu_features', 5), pid: opt('uint32', 6),
    }),
    criu_resp: message({
      type: req('criu_req_type', 1), success: req('bool', 2), dump: opt('criu_dump_resp', 3),
      restore: opt('criu_restore_resp', 4), notify: opt('criu_notify', 5), ps: opt('criu_page_server_info', 6),
      cr_errno: opt('int32', 7), features: opt('criu_features', 8), cr_errmsg: opt('string', 9),
      version: opt('criu_version', 10), status: opt('int32', 11),
    }),
  },
};
