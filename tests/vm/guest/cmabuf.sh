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
