package io.kvgate.models;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fused-attention switch: off unless configured, and a bad file is a one-line user error. */
class FusedAttentionTest {
    @AfterEach
    void clear() {
        System.clearProperty("kvgate.fusedAttention");
        System.clearProperty("kvgate.cudaGraphOps");
    }

    @Test
    void offWhenNotConfigured() {
        if (System.getenv(FusedAttention.ENV) != null) return; // a GPU shell may set it
        try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            assertNull(FusedAttention.fromEnvironment(m, Device.cpu()));
        }
    }

    @Test
    void missingOrUnloadableFilesAreBadInput() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            System.setProperty("kvgate.fusedAttention", "/no/such/fused-attention.pt");
            KvgateException e = assertThrows(KvgateException.class, () -> FusedAttention.fromEnvironment(m, Device.cpu()));
            assertTrue(e.getMessage().contains("no such file"), e.getMessage());

            Path notTorchScript = Fixtures.parity("qwen3-tiny-a").resolve("config.json").toAbsolutePath();
            System.setProperty("kvgate.fusedAttention", notTorchScript.toString());
            e = assertThrows(KvgateException.class, () -> FusedAttention.fromEnvironment(m, Device.cpu()));
            assertTrue(e.getMessage().contains("not a loadable TorchScript module"), e.getMessage());

            // kvgate's CUDA-graph operators (read before the module): a missing library is bad input too
            System.setProperty("kvgate.cudaGraphOps", "/no/such/kvgate_cuda_graph.so");
            e = assertThrows(KvgateException.class, () -> FusedAttention.fromEnvironment(m, Device.cpu()));
            assertTrue(e.getMessage().startsWith(FusedAttention.GRAPH_OPS_ENV) && e.getMessage().contains("no such file"), e.getMessage());
        }
    }

    /**
     * Columns a captured decode step attends (DecodeGraph): past the write index, multiples of 256 where the capacity
     * allows (decode_step splits p @ v then), never past the capacity; ragged layers attend every row.
     */
    @Test
    void capturedStepsAttendABoundedMultipleOf256Columns() {
        int[][] cases = {{1024, 2048}, {32768, 65536}, {100, 300}, {1000, 1001}, {5000, 5100}};
        for (int[] c : cases) {
            LayerKv.DecodeSlot slot = new LayerKv.DecodeSlot(null, null, null, null, null, null, c[0], c[1]);
            long limit = DecodeGraph.graphLimits(new LayerKv.DecodeSlot[] {slot})[0];
            assertTrue(limit > c[0] && limit <= c[1], c[0] + "/" + c[1] + " -> " + limit);
            assertTrue(limit % 256 == 0 || limit == c[1], c[0] + "/" + c[1] + " -> " + limit);
            assertTrue(limit <= c[0] + 1 + Math.max(256, (c[0] + 1) / 8) + 255, c[0] + "/" + c[1] + " -> " + limit);
        }
    }
}
