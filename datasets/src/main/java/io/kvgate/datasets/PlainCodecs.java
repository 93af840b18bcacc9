package io.kvgate.datasets;

import io.airlift.compress.Decompressor;
import io.airlift.compress.lz4.Lz4Decompressor;
import io.airlift.compress.snappy.SnappyDecompressor;
import io.airlift.compress.zstd.ZstdDecompressor;
import io.kvgate.models.KvgateException;
import org.apache.parquet.bytes.BytesInput;
import org.apache.parquet.compression.CompressionCodecFactory;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.zip.GZIPInputStream;

/**
 * Parquet page codecs without Hadoop: Parquet-MR's own {@code CodecFactory} instantiates Hadoop codecs
 * through a Hadoop {@code Configuration}, which needs the 30 MB hadoop-client-runtime. Pages written by other
 * tools (pyarrow defaults to Snappy) are decompressed here with pure-Java aircompressor (Snappy, Zstd,
 * LZ4_RAW) and java.util.zip (Gzip). kvgate writes its own shards uncompressed (floats barely compress).
 */
final class PlainCodecs implements CompressionCodecFactory {
    static final PlainCodecs INSTANCE = new PlainCodecs();

    private PlainCodecs() {}

    @Override
    public BytesInputCompressor getCompressor(CompressionCodecName codec) {
        if (codec != CompressionCodecName.UNCOMPRESSED) throw new IllegalArgumentException("kvgate writes uncompressed pages, not " + codec);
        return new BytesInputCompressor() {
            @Override
            public BytesInput compress(BytesInput bytes) {
                return bytes;
            }

            @Override
            public CompressionCodecName getCodecName() {
                return CompressionCodecName.UNCOMPRESSED;
            }

            @Override
            public void release() {}
        };
    }

    @Override
    public BytesInputDecompressor getDecompressor(CompressionCodecName codec) {
        return switch (codec) {
            case UNCOMPRESSED -> new Pages((in, size) -> in);
            case SNAPPY -> new Pages(block(new SnappyDecompressor()));
            case ZSTD -> new Pages(block(new ZstdDecompressor()));
            case LZ4_RAW -> new Pages(block(new Lz4Decompressor()));
            case GZIP -> new Pages((in, size) -> {
                try (InputStream z = new GZIPInputStream(new ByteArrayInputStream(in))) {
                    byte[] out = z.readNBytes(size);
                    if (out.length != size) throw new IOException("gzip page: " + out.length + " bytes, expected " + size);
                    return out;
                }
            });
            default -> throw new KvgateException("Parquet pages compressed with " + codec + " are not supported "
                    + "(rewrite the file uncompressed or with snappy, zstd, gzip or lz4_raw)");
        };
    }

    @Override
    public void release() {}

    private static Codec block(Decompressor d) {
        return (in, size) -> {
            byte[] out = new byte[size];
            int n = d.decompress(in, 0, in.length, out, 0, size);
            if (n != size) throw new IOException("page decompressed to " + n + " bytes, expected " + size);
            return out;
        };
    }

    @FunctionalInterface
    private interface Codec {
        byte[] apply(byte[] compressed, int uncompressedSize) throws IOException;
    }

    private record Pages(Codec codec) implements BytesInputDecompressor {
        @Override
        public BytesInput decompress(BytesInput bytes, int uncompressedSize) throws IOException {
            return BytesInput.from(codec.apply(bytes.toByteArray(), uncompressedSize));
        }

        @Override
        public void decompress(ByteBuffer input, int compressedSize, ByteBuffer output, int uncompressedSize) throws IOException {
            byte[] in = new byte[compressedSize];
            input.get(in);
            output.put(codec.apply(in, uncompressedSize));
        }

        @Override
        public void release() {}
    }
}
