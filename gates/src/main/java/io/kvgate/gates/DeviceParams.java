package io.kvgate.gates;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A gate's parameters copied once per device (float32) and kept there, so scoring a chunk costs no
 * host-to-device transfer. Owned by one gate; {@link #close()} frees every copy.
 */
final class DeviceParams implements AutoCloseable {
    private final Function<NDManager, List<NDArray>> maker;
    private final Map<Device, NDManager> managers = new HashMap<>();
    private final Map<Device, List<NDArray>> arrays = new HashMap<>();

    /** {@code maker} builds the device arrays from the host parameters inside the manager it is given. */
    DeviceParams(Function<NDManager, List<NDArray>> maker) {
        this.maker = maker;
    }

    synchronized List<NDArray> on(Device device) {
        List<NDArray> a = arrays.get(device);
        if (a == null) {
            NDManager m = NDManager.newBaseManager(device);
            managers.put(device, m);
            a = maker.apply(m);
            arrays.put(device, a);
        }
        return a;
    }

    /** Parameter {@code i} of every gate's device arrays stacked along a new leading axis, in {@code m} (Gate.stack). */
    static NDArray stack(List<List<NDArray>> perGate, int i, NDManager m) {
        ai.djl.ndarray.NDList parts = new ai.djl.ndarray.NDList();
        for (List<NDArray> w : perGate) parts.add(w.get(i));
        NDArray s = ai.djl.ndarray.NDArrays.stack(parts, 0);
        s.attach(m);
        return s;
    }

    @Override
    public synchronized void close() {
        managers.values().forEach(NDManager::close);
        managers.clear();
        arrays.clear();
    }
}
