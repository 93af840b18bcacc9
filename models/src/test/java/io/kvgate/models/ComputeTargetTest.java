package io.kvgate.models;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --device / --dtype parsing: accepted spellings, and one-line errors for what cannot run. */
class ComputeTargetTest {
    @Test
    void cpuAndDtypeSpellings() {
        assertEquals(new ComputeTarget(Device.cpu(), DataType.FLOAT32), ComputeTarget.parse("cpu", "float32"));
        assertEquals(DataType.FLOAT32, ComputeTarget.parse("CPU", "fp32").dtype());
        assertEquals(DataType.FLOAT32, ComputeTarget.parse("cpu", "auto").dtype());
        assertEquals(DataType.FLOAT16, ComputeTarget.parseDtype("half", Device.gpu()));
        assertEquals(DataType.FLOAT16, ComputeTarget.parseDtype("auto", Device.gpu()));
    }

    @Test
    void float16OnCpuAndUnknownValuesAreBadInput() {
        KvgateException e = assertThrows(KvgateException.class, () -> ComputeTarget.parse("cpu", "float16"));
        assertTrue(e.getMessage().contains("--device gpu"), e.getMessage());
        assertThrows(KvgateException.class, () -> ComputeTarget.parse("cpu", "bfloat16"));
        assertThrows(KvgateException.class, () -> ComputeTarget.parse("tpu", "float32"));
        assertThrows(KvgateException.class, () -> ComputeTarget.parse("gpu:x", "float32"));
        assertThrows(KvgateException.class, () -> new ComputeTarget(Device.cpu(), DataType.BFLOAT16));
    }

    @Test
    void gpuIndexMustExistAndAutoFallsBackToCpu() {
        int gpus = Engine.getEngine("PyTorch").getGpuCount();
        KvgateException e = assertThrows(KvgateException.class, () -> ComputeTarget.parseDevice("gpu:" + gpus));
        assertTrue(e.getMessage().contains("sees " + gpus + " GPU"), e.getMessage());
        if (gpus == 0) {
            assertEquals(Device.cpu(), ComputeTarget.parseDevice("auto"));
            assertThrows(KvgateException.class, () -> ComputeTarget.parseDevice("gpu"));
        } else {
            assertEquals(Device.gpu(0), ComputeTarget.parseDevice("auto"));
        }
    }
}
