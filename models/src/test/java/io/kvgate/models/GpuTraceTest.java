package io.kvgate.models;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The summary kvgate::gpu_trace_stop returns (native/kvgate_gpu_trace.cpp), as GpuTrace reads it. */
class GpuTraceTest {
    @Test
    void readsBusySpanAndKernelsLargestFirst() {
        GpuTrace.Summary s = GpuTrace.parse("busy\t1500\nspan\t2000\n3\t300\tvoid small<float>(int)\n2\t1200\tnvjet_hsh_gemm\tx\n");
        assertEquals(1500, s.busyNs());
        assertEquals(2000, s.spanNs());
        assertEquals(2, s.kernels().size());
        assertEquals("nvjet_hsh_gemm\tx", s.kernels().get(0).name()); // a tab inside a name stays part of it
        assertEquals(5, s.launches());
        assertEquals(300, s.kernels().get(1).totalNs()); // "small": 3 launches, 300 ns
        assertEquals(3, s.kernels().get(1).count());
    }

    @Test
    void anEmptyTraceHasNoKernels() {
        GpuTrace.Summary s = GpuTrace.parse("busy\t0\nspan\t0\n");
        assertTrue(s.kernels().isEmpty());
        assertEquals(0, s.launches());
    }

    @Test
    void anotherFormatIsAClearError() {
        KvgateException e = assertThrows(KvgateException.class, () -> GpuTrace.parse("something else"));
        assertTrue(e.getMessage().contains("gpu_trace_stop"), e.getMessage());
    }
}
