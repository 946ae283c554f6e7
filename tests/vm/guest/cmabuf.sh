#!/bin/sh
# Runs inside the VM from /payload: load cmabuf.ko, run the C tests, unload.
r=$(uname -r)
if insmod ./cmabuf.ko; then
	echo "ok - [$r] insmod cmabuf.ko"
else
	echo "not ok - [$r] insmod cmabuf.ko"
	exit 1
fi
if [ -c /dev/cmabuf ] && [ "$(stat -c %a /dev/cmabuf)" = 600 ]; then
	echo "ok - [$r] /dev/cmabuf is a character device, mode 0600"
else
	echo "not ok - [$r] /dev/cmabuf is a character device, mode 0600"
fi
./cmabuf-test "${SEED:-1}"
rc=$?
# A mapping alone keeps the module: its file holds the internal mount, whose
# superblock holds the module (refcnt), so rmmod must refuse.
./cmabuf-test --hold > /tmp/hold.out &
hold=$!
for i in 1 2 3 4 5 6 7 8 9 10; do
	grep -q ready /tmp/hold.out && break
	sleep 1
done
held=$(cat /sys/module/cmabuf/refcnt)
if grep -q ready /tmp/hold.out && [ "$held" -ge 1 ] && ! rmmod cmabuf 2>/dev/null; then
	echo "ok - [$r] a mapped buffer with every descriptor closed keeps the module (refcnt $held, rmmod refused)"
else
	echo "not ok - [$r] a mapped buffer with every descriptor closed keeps the module (refcnt $held)"
	rc=1
fi
kill "$hold"
wait "$hold" 2>/dev/null
if [ "$(cat /sys/module/cmabuf/refcnt)" = 0 ]; then
	echo "ok - [$r] once it is unmapped the module is free (refcnt 0)"
else
	echo "not ok - [$r] once it is unmapped the module is free (refcnt $(cat /sys/module/cmabuf/refcnt))"
	rc=1
fi
if rmmod cmabuf; then
	echo "ok - [$r] rmmod cmabuf once every buffer is gone"
else
	echo "not ok - [$r] rmmod cmabuf once every buffer is gone"
	rc=1
fi
# A lower DMA mask: every buffer must then lie below 4 GiB.
if insmod ./cmabuf.ko dma_bits=32 && ./cmabuf-test --dma32; then
	echo "ok - [$r] dma_bits=32: buffers below 4 GiB"
else
	echo "not ok - [$r] dma_bits=32: buffers below 4 GiB"
	rc=1
fi
rmmod cmabuf 2>/dev/null
exit $rc
