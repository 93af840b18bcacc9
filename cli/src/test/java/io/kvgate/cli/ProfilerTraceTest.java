package io.kvgate.cli;

import io.kvgate.models.KvgateException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Reading DJL's libtorch profiler output: nested calls fold into the op DJL called, per thread. */
class ProfilerTraceTest {
    @TempDir
    Path tmp;

    @Test
    void countsTopLevelOpsTheirHostTimeAndSyncs() throws URISyntaxException {
        ProfilerTrace t = ProfilerTrace.read(Path.of(getClass().getResource("/profiler-trace.json").toURI()));
        // aten::mm inside aten::matmul and aten::copy_ inside the scalar read are not separate JNI calls
        assertEquals(5, t.topLevel().size());
        assertEquals(30 + 5 + 7 + 100 + 4, t.hostMicros(), 1e-9);
        assertEquals(1, t.syncCount());
        assertEquals(100, t.syncMicros(), 1e-9);
        List<Map.Entry<String, double[]>> byName = t.byName();
        assertEquals("aten::mul", byName.get(0).getKey());
        assertArrayEquals(new double[] {2, 12}, byName.get(0).getValue(), 1e-9);
    }

    @Test
    void unreadableTraceIsBadInput() throws IOException {
        Path bad = Files.writeString(tmp.resolve("trace.json"), "[{\"name\": ");
        assertThrows(KvgateException.class, () -> ProfilerTrace.read(bad));
    }
}
