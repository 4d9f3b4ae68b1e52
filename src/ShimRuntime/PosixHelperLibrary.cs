using System.Reflection;
using System.Runtime.InteropServices;

namespace Csshim.ShimRuntime;

/// <summary>
/// Mono.Posix's native half, libMonoPosixHelper.so, is loaded from beside the binary, where install.sh puts it.
/// Left to the default probing, .NET first asks the dynamic loader for "MonoPosixHelper.so", which looks for it in
/// some forty system directories before the name with its "lib" prefix is tried beside the binary: about eighty
/// failed opens on every call that stages or unstages.
/// </summary>
internal static class PosixHelperLibrary
{
    const string ImportName = "MonoPosixHelper";

    public static void LoadFromBesideTheBinary() =>
        NativeLibrary.SetDllImportResolver(typeof(Mono.Unix.Native.Syscall).Assembly, Resolve);

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == ImportName && NativeLibrary.TryLoad(Path.Combine(AppContext.BaseDirectory, "lib" + ImportName + ".so"), out var handle)
            ? handle
            : IntPtr.Zero; // anything else, or no copy beside the binary: the default probing, and its error
}
