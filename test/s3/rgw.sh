#!/usr/bin/env bash
# A throwaway Ceph RGW on 127.0.0.1 for the upload tests and bench: one mon, one OSD (bluestore on a sparse
# file), radosgw, cephx keys, no mgr, no systemd. Root only (the OSD needs it); Debian 12 packages
# radosgw ceph-mon ceph-osd ceph-common.
#
#   rgw.sh start DIR PORT MON_PORT   prints one JSON line {"endpoint", "accessKeyId", "secretAccessKey"} when ready
#   rgw.sh stop DIR                  ends the daemons recorded in DIR/pids (TERM, then KILL), then removes DIR
#
# Facts this follows (../../../shared/reference/s3-servers.md): cephx is required (with auth "none" the OSD never
# boots); the mon speaks msgr2 only, on an explicit v2 address; the bluestore block file must lie outside the
# OSD data folder; daemons must not inherit our stdout or a caller piping it would wait for them forever.
set -euo pipefail

command=${1:?usage: rgw.sh start DIR PORT MON_PORT | stop DIR}
dir=${2:?usage: rgw.sh start DIR PORT MON_PORT | stop DIR}

stop() {
  [[ -f "$dir/pids" ]] || return 0
  local pids
  pids=$(tac "$dir/pids")
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 $pids 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL $pids 2>/dev/null || true
  rm -f "$dir/pids"
}

if [[ $command == stop ]]; then
  stop
  rm -rf "$dir"
  exit 0
fi

port=${3:?PORT}
mon_port=${4:?MON_PORT}
for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
  command -v "$tool" >/dev/null || {
    echo "rgw.sh: $tool is missing: apt-get install radosgw ceph-mon ceph-osd ceph-common" >&2
    exit 3
  }
done
mkdir -p "$dir"/{mon,osd,rgw,log,run}
: >"$dir/pids"
trap 'status=$?; if ((status != 0)); then echo "rgw.sh: start failed, logs in $dir/log" >&2; stop; fi' EXIT

access_key=DISKPORTTESTKEY00001
secret_key=diskport-test-secret-0000000000000000001
conf=$dir/ceph.conf
cat >"$conf" <<EOF
[global]
fsid = $(cat /proc/sys/kernel/random/uuid)
mon_host = [v2:127.0.0.1:$mon_port]
public_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $dir/keyring
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
pid_file = $dir/run/\$name.pid
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
[mon]
mon_data = $dir/mon/\$id
[osd]
osd_data = $dir/osd
osd_objectstore = bluestore
bluestore_block_path = $dir/osd-block.img
bluestore_block_create = true
bluestore_block_size = $((16 * 1024 * 1024 * 1024))
bluestore_block_db_create = false
bluestore_block_wal_create = false
bluestore_fsck_on_mount = false
bluestore_cache_autotune = false
bluestore_cache_size = 134217728
osd_memory_target = 1073741824
[client.rgw.test]
rgw_frontends = beast endpoint=127.0.0.1:$port
rgw_data = $dir/rgw
rgw_thread_pool_size = 64
EOF

keyring=$dir/keyring
ceph-authtool --create-keyring "$keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' >/dev/null
ceph-authtool "$keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' >/dev/null
ceph-authtool "$keyring" --gen-key -n client.rgw.test --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null

daemon() { # name, command...: runs detached from our stdout, records the pid
  local name=$1
  shift
  "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
  echo $! >>"$dir/pids"
}
wait_for() { # tries, description, command...
  local tries=$1 what=$2
  shift 2
  for _ in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "rgw.sh: $what did not come up" >&2
  return 1
}
cluster() { ceph -c "$conf" --connect-timeout 20 "$@"; }

monmaptool --create --fsid "$(awk '/^fsid/ {print $3}' "$conf")" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$keyring" 2>>"$dir/log/mkfs.out"
daemon mon ceph-mon -c "$conf" -i a -f
wait_for 100 "the monitor" cluster mon stat

osd_uuid=$(cat /proc/sys/kernel/random/uuid)
osd_id=$(cluster osd new "$osd_uuid")
ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/mkfs.out" 2>&1
daemon osd ceph-osd -c "$conf" -i "$osd_id" -f
osd_up() { cluster osd dump | grep -q "^osd.$osd_id up"; }
wait_for 300 "the OSD" osd_up

daemon rgw radosgw -c "$conf" -n client.rgw.test -f
radosgw-admin -c "$conf" user create --uid test --display-name test \
  --access-key "$access_key" --secret "$secret_key" >/dev/null 2>>"$dir/log/admin.out"
wait_for 600 "radosgw" curl -s -o /dev/null "http://127.0.0.1:$port/"
printf '{"endpoint":"http://127.0.0.1:%s","accessKeyId":"%s","secretAccessKey":"%s"}\n' "$port" "$access_key" "$secret_key"
