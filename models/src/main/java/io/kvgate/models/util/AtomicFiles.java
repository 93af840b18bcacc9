package io.kvgate.models.util;

import io.kvgate.models.KvgateException;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Outputs are written under a temporary name beside the target and renamed into place, so a crash or an
 * error never leaves a half-written file or directory where a finished one is expected.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Writes a file through {@code writer} into a temp file, then renames it to {@code target}. */
    public static void write(Path target, IoConsumer<OutputStream> writer) {
        Path tmp = tempSibling(target);
        try {
            Files.createDirectories(target.toAbsolutePath().getParent());
            try (OutputStream out = Files.newOutputStream(tmp)) {
                writer.accept(out);
            }
            move(tmp, target);
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new KvgateException("cannot write " + target + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            deleteQuietly(tmp);
            throw e;
        }
    }

    public static void writeString(Path target, String text) {
        write(target, out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * Builds a directory under a temp name via {@code builder} (which receives the temp directory), then
     * replaces {@code target} with it.
     */
    public static void writeDirectory(Path target, IoConsumer<Path> builder) {
        Path tmp = tempSibling(target);
        try {
            Files.createDirectories(target.toAbsolutePath().getParent());
            deleteRecursively(tmp);
            Files.createDirectories(tmp);
            builder.accept(tmp);
            if (Files.exists(target)) {
                Path old = target.resolveSibling(target.getFileName() + ".old-" + ProcessHandle.current().pid());
                move(target, old);
                move(tmp, target);
                deleteRecursively(old);
            } else {
                move(tmp, target);
            }
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new KvgateException("cannot write " + target + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            deleteQuietly(tmp);
            throw e;
        }
    }

    /** The temp name used for {@code target}; leftovers of an interrupted run carry this suffix. */
    public static Path tempSibling(Path target) {
        return target.toAbsolutePath().resolveSibling(target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
    }

    /** True for names that {@link #tempSibling} produces (so readers can skip interrupted leftovers). */
    public static boolean isTempName(Path p) {
        return p.getFileName().toString().matches(".*\\.tmp-\\d+$");
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    public static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(q);
            }
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            deleteRecursively(p);
        } catch (IOException | UncheckedIOException ignored) {
            // best effort: the temp name never shadows a finished output
        }
    }

    @FunctionalInterface
    public interface IoConsumer<T> {
        void accept(T t) throws IOException;
    }
}
