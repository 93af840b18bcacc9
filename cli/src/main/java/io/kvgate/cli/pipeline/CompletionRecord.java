package io.kvgate.cli.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.kvgate.models.util.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code state/<stage>.done.json}: written atomically when a stage finishes. A rerun skips the stage only if
 * the inputs hash is the same and the output files still match {@code files} (by content).
 *
 * @param stage    stage name
 * @param inputs   hash of the stage's inputs (config sections, external digests, upstream output digests)
 * @param outputs  combined digest of the output files
 * @param files    the output files with size, mtime and SHA-256
 * @param detail   the inputs themselves, for people reading the record
 * @param seconds  how long the stage ran
 */
public record CompletionRecord(String stage, String inputs, String outputs, Map<String, DirectoryDigest.FileEntry> files,
                               Map<String, Object> detail, double seconds) {
    static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    /** The record, or null when absent or unreadable (an unreadable record just means "run again"). */
    static CompletionRecord read(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            return JSON.readValue(file.toFile(), CompletionRecord.class);
        } catch (IOException e) {
            return null;
        }
    }

    void write(Path file) {
        AtomicFiles.write(file, out -> JSON.writeValue(out, this));
    }
}
