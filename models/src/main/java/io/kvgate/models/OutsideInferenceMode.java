package io.kvgate.models;

import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;

import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.Arrays;

/**
 * A TorchScript method called as DJL's {@code IValueUtils.runMethod} calls it, but with its "training" flag set, which
 * makes DJL's native code skip the {@code c10::InferenceMode} guard it puts around every inference call
 * (ai_djl_pytorch_jni_PyTorchLibrary_inference.cc, moduleRunMethod). Tensors made inside that guard are inference
 * tensors, which libtorch refuses to update in place outside it, and kvgate's own ops do that to a cache's storage
 * (appends). DJL 0.35.1 exposes no such call, so its package-private entry point is reached by reflection, once.
 */
final class OutsideInferenceMode {
    private static final Object LIBRARY;
    private static final Method RUN_METHOD;
    private static final Constructor<IValue> IVALUE;
    private static final boolean CUDA_STREAM;

    static {
        try {
            Class<?> lib = Class.forName("ai.djl.pytorch.jni.PyTorchLibrary");
            Field instance = lib.getDeclaredField("LIB");
            instance.setAccessible(true);
            LIBRARY = instance.get(null);
            RUN_METHOD = lib.getDeclaredMethod("moduleRunMethod", long.class, String.class, long[].class, boolean.class, boolean.class);
            RUN_METHOD.setAccessible(true);
            IVALUE = IValue.class.getDeclaredConstructor(long.class);
            IVALUE.setAccessible(true);
            Field stream = ai.djl.pytorch.jni.IValueUtils.class.getDeclaredField("CUDA_STREAM");
            stream.setAccessible(true);
            CUDA_STREAM = stream.getBoolean(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError("DJL's PyTorch engine is not the 0.35.1 kvgate was written against: " + e);
        }
    }

    private OutsideInferenceMode() {}

    /** {@code block}'s method {@code name} on {@code args} (left open); the result is the caller's to close. */
    static IValue runMethod(PtSymbolBlock block, String name, IValue... args) {
        long[] handles = Arrays.stream(args).mapToLong(IValue::getHandle).toArray();
        try {
            long out = (long) RUN_METHOD.invoke(LIBRARY, block.getHandle(), name, handles, true, CUDA_STREAM);
            return IVALUE.newInstance(out);
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) throw r; // libtorch's errors, as runMethod would throw them
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }
}
