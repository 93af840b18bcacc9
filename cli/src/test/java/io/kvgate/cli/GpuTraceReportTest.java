package io.kvgate.cli;

import io.kvgate.models.GpuTrace;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GpuTraceReportTest {
    @Test
    void shortNamesDropVoidAnonymousNamespacesAndParameters() {
        assertEquals("at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>>",
                GpuTraceReport.shortName("void at::native::(anonymous namespace)::vectorized_elementwise_kernel<4, "
                        + "at::native::FillFunctor<float>>(int, at::native::FillFunctor<float>, std::array<char*, 1ul>)"));
        assertEquals("nvjet_hsh_256x128_64x4_1x2_h_bz_coopA_NNN", GpuTraceReport.shortName("nvjet_hsh_256x128_64x4_1x2_h_bz_coopA_NNN"));
        assertTrue(GpuTraceReport.shortName("k<" + "x".repeat(200) + ">(int)").length() <= 90);
    }

    @Test
    void comparisonPutsTheLargestDifferenceFirst() {
        GpuTrace.Summary a = new GpuTrace.Summary(3_000_000, 4_000_000, List.of(
                new GpuTrace.Kernel("gemm", 10, 2_000_000), new GpuTrace.Kernel("void copy(int)", 4, 1_000_000)));
        GpuTrace.Summary b = new GpuTrace.Summary(3_600_000, 4_500_000, List.of(
                new GpuTrace.Kernel("gemm", 12, 2_100_000), new GpuTrace.Kernel("void copy(int)", 4, 1_000_000),
                new GpuTrace.Kernel("sink_gate_kernel<1>(float*)", 1, 500_000)));
        String[] lines = GpuTraceReport.compare("full", a, "gate", b, 5).split("\n");
        assertTrue(lines[2].contains("(GPU busy)") && lines[2].contains("0.600"), lines[2]);
        assertTrue(lines[3].startsWith("| sink_gate_kernel<1>") && lines[3].contains("0.500"), lines[3]);
        assertTrue(lines[4].startsWith("| gemm") && lines[4].contains("0.100"), lines[4]);
    }
}
