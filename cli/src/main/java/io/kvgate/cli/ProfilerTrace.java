package io.kvgate.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvgate.models.KvgateException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A libtorch (legacy autograd profiler) trace as DJL writes it: a JSON array of {name, ts, dur, tid} events in
 * microseconds, nested calls included. Top-level events are the ops DJL called through JNI (one per NDArray op),
 * so their count is the JNI calls, and their summed duration the host time spent inside libtorch
 * (dispatch + kernel launch, plus waiting for the GPU where an op syncs).
 */
record ProfilerTrace(List<Op> topLevel) {
    record Op(String name, double ts, double dur) {}

    /** Ops whose host time includes waiting for the device: scalar reads and copies that bring data to the host. */
    static boolean syncs(String name) {
        return name.equals("aten::_local_scalar_dense") || name.equals("aten::item");
    }

    static ProfilerTrace read(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new KvgateException("profiler trace " + file + " is not readable JSON: " + e.getMessage());
        }
        Map<String, List<Op>> byThread = new HashMap<>();
        for (JsonNode e : root) {
            byThread.computeIfAbsent(e.path("tid").asText(), k -> new ArrayList<>())
                    .add(new Op(e.path("name").asText(), e.path("ts").asDouble(), e.path("dur").asDouble()));
        }
        List<Op> top = new ArrayList<>();
        for (List<Op> ops : byThread.values()) {
            // an op nested inside an earlier one on the same thread is part of that call
            ops.sort(Comparator.comparingDouble(Op::ts).thenComparing(Comparator.comparingDouble(Op::dur).reversed()));
            double end = Double.NEGATIVE_INFINITY;
            for (Op op : ops) {
                if (op.ts >= end) {
                    top.add(op);
                    end = op.ts + op.dur;
                }
            }
        }
        return new ProfilerTrace(top);
    }

    /** Total host microseconds inside top-level ops. */
    double hostMicros() {
        return topLevel.stream().mapToDouble(Op::dur).sum();
    }

    /** Host microseconds inside ops that wait for the device. */
    double syncMicros() {
        return topLevel.stream().filter(o -> syncs(o.name)).mapToDouble(Op::dur).sum();
    }

    long syncCount() {
        return topLevel.stream().filter(o -> syncs(o.name)).count();
    }

    /** Per op name: {count, total µs}, largest count first. */
    List<Map.Entry<String, double[]>> byName() {
        Map<String, double[]> m = new HashMap<>();
        for (Op op : topLevel) {
            double[] v = m.computeIfAbsent(op.name, k -> new double[2]);
            v[0]++;
            v[1] += op.dur;
        }
        List<Map.Entry<String, double[]>> list = new ArrayList<>(m.entrySet());
        list.sort((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0]));
        return list;
    }
}
