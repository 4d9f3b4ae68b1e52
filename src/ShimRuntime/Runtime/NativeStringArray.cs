using System.Runtime.InteropServices;
using Csshim.ShimRuntime.Cli;

namespace Csshim.ShimRuntime.Runtime;

/// <summary>A NULL-terminated char*[] in unmanaged memory, as execv and posix_spawn take argv. Strings are encoded
/// with <see cref="RawArgv.Encode"/>, so an argument read from the caller's argv reaches the runtime byte for byte.</summary>
internal sealed class NativeStringArray : IDisposable
{
    private readonly IntPtr[] strings;
    public IntPtr Pointer { get; }

    public NativeStringArray(IReadOnlyList<string> items)
    {
        strings = new IntPtr[items.Count];
        Pointer = Marshal.AllocHGlobal(IntPtr.Size * (items.Count + 1));
        for (int i = 0; i < items.Count; i++)
        {
            var bytes = RawArgv.Encode(items[i]);
            strings[i] = Marshal.AllocHGlobal(bytes.Length + 1);
            Marshal.Copy(bytes, 0, strings[i], bytes.Length);
            Marshal.WriteByte(strings[i], bytes.Length, 0);
            Marshal.WriteIntPtr(Pointer, i * IntPtr.Size, strings[i]);
        }
        Marshal.WriteIntPtr(Pointer, items.Count * IntPtr.Size, IntPtr.Zero);
    }

    public void Dispose()
    {
        foreach (var s in strings) Marshal.FreeHGlobal(s);
        Marshal.FreeHGlobal(Pointer);
    }
}
