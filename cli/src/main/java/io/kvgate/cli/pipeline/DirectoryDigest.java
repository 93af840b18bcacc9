package io.kvgate.cli.pipeline;

import io.kvgate.models.KvgateException;
import io.kvgate.models.util.AtomicFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Content digest of a file or a directory tree: SHA-256 of every file, combined over sorted relative paths.
 * Like git's index, a file whose size and modification time match a previous digest reuses its recorded hash,
 * so checking a large, unchanged feature directory costs one stat per file; a touched file is re-hashed.
 */
public final class DirectoryDigest {
    /** One file's identity: size and mtime (for the cheap check) and its content hash. */
    public record FileEntry(long size, long modified, String sha256) {}

    private DirectoryDigest() {}

    /** Every regular file under {@code dir} (temp leftovers skipped), keyed by relative path with '/'. */
    public static Map<String, FileEntry> files(Path dir, Map<String, FileEntry> previous) {
        Map<String, FileEntry> out = new TreeMap<>();
        if (!Files.exists(dir)) return out;
        if (Files.isRegularFile(dir)) {
            out.put(dir.getFileName().toString(), entry(dir, previous.get(dir.getFileName().toString())));
            return out;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk.sorted()::iterator) {
                if (!Files.isRegularFile(p) || isLeftover(dir, p)) continue;
                String rel = dir.relativize(p).toString().replace('\\', '/');
                out.put(rel, entry(p, previous.get(rel)));
            }
        } catch (IOException e) {
            throw new KvgateException("cannot read " + dir + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** The combined digest of a file listing (paths and content hashes; times do not matter). */
    public static String combine(Map<String, FileEntry> files) {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, FileEntry> e : new TreeMap<>(files).entrySet()) {
            sb.append(e.getKey()).append('\0').append(e.getValue().sha256()).append('\n');
        }
        return sha256(sb.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** Digest of a file or a directory, hashing everything (for inputs outside the experiment: corpus, tasks). */
    public static String of(Path path) {
        return combine(files(path, Map.of()));
    }

    public static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(messageDigest().digest(bytes));
    }

    private static FileEntry entry(Path p, FileEntry previous) {
        try {
            long size = Files.size(p);
            long modified = Files.getLastModifiedTime(p).toMillis();
            if (previous != null && previous.size() == size && previous.modified() == modified) return previous;
            return new FileEntry(size, modified, hashFile(p));
        } catch (IOException e) {
            throw new KvgateException("cannot read " + p + ": " + e.getMessage(), e);
        }
    }

    private static String hashFile(Path p) throws IOException {
        MessageDigest md = messageDigest();
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(p)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Temp names of interrupted atomic writes are not outputs. */
    private static boolean isLeftover(Path root, Path p) {
        for (Path q = p; q != null && !q.equals(root); q = q.getParent()) {
            if (AtomicFiles.isTempName(q) || q.getFileName().toString().matches(".*\\.old-\\d+$")) return true;
        }
        return false;
    }

    private static MessageDigest messageDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
