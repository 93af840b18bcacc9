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
        }
    }
}
