#!/bin/sh
# Runs inside the VM booted with guest/cmabuf-dt.dtsi: cmabuf.ko binds to the
# device tree node and allocates from its memory-region.
r="$(uname -r) dt"
if insmod ./cmabuf.ko; then
	echo "ok - [$r] insmod cmabuf.ko"
else
	echo "not ok - [$r] insmod cmabuf.ko"
	exit 1
fi
if dmesg | grep -q 'cmabuf: /dev/cmabuf: memory-region'; then
	echo "ok - [$r] the driver is bound to the device tree node"
else
	echo "not ok - [$r] the driver is bound to the device tree node"
fi
./cmabuf-test --dt
rc=$?
rmmod cmabuf || rc=1
exit $rc
