using Csshim.TarLayer.Posix;

namespace Csshim.ShimRuntime.Staging;

/// <summary>
/// The engine's overlay at a container's rootfs, mounted again with a cached layer added as its topmost lower: same
/// upperdir and workdir, same options, same mount flags, read from mountinfo. The container's writes still land in
/// the engine's layer, and the engine unmounts the rootfs as it always does (the new mount is the one at that path).
/// </summary>
internal static class EngineStack
{
    /// <summary>Per-mount options mountinfo shows, as mount(2) flags; any other one makes the mount one csshim does not
    /// reproduce.</summary>
    private static readonly Dictionary<string, ulong> Flags = new()
    {
        ["rw"] = 0, ["ro"] = 1, ["nosuid"] = 2, ["nodev"] = 4, ["noexec"] = 8, ["noatime"] = 1024, ["nodiratime"] = 2048,
        ["relatime"] = 1 << 21, ["strictatime"] = 1 << 24, ["nosymfollow"] = 256,
    };

    /// <summary>mount(2) takes one page of options.</summary>
    private const int MaxData = 4095;

    /// <summary>Why this mount cannot be reproduced with a layer added (csshim then copies the archive into the
    /// engine's layer instead), or null. Relative layer paths (an engine that chdir'ed before mounting) and characters
    /// that the option syntax would need escaped are not guessed at.</summary>
    public static string? WhyNot(MountEntry mount, string layerDir)
    {
        foreach (var option in mount.MountOptions)
            if (!Flags.ContainsKey(option)) return $"its mount option \"{option}\" is not one csshim reproduces";
        foreach (var option in mount.SuperOptions)
            if (option.StartsWith("lowerdir+", StringComparison.Ordinal) || option.StartsWith("datadir+", StringComparison.Ordinal))
                return $"it was mounted with {option.Split('=')[0]}";
        if (mount.SuperOption("lowerdir") is not { } lowers) return "it has no lowerdir";
        foreach (var path in new[] { layerDir, mount.SuperOption("upperdir")!, mount.SuperOption("workdir") ?? "" }.Concat(lowers.Split(':')))
        {
            if (!path.StartsWith('/')) return $"its layer path \"{path}\" is not absolute";
            if (path.IndexOfAny([',', '\\', ':', ' ', '\t', '\n']) >= 0) return $"its layer path \"{path}\" needs escaping";
        }
        if (Data(mount, layerDir).Length > MaxData) return $"its options would be longer than {MaxData} bytes";
        return null;
    }

    /// <summary>True when the layer already is the mount's topmost lower (a create that was interrupted after it
    /// stacked, under an engine that did not mount again).</summary>
    public static bool IsStacked(MountEntry mount, string layerDir) =>
        mount.SuperOption("lowerdir")?.Split(':')[0] == layerDir;

    /// <summary>Replace the engine's mount at rootfs by one with layerDir added; on a failure the engine's own mount is
    /// put back.</summary>
    public static void Stack(MountEntry mount, string layerDir)
    {
        var rootfs = mount.MountPoint;
        var flags = mount.MountOptions.Aggregate(0UL, (all, o) => all | Flags[o]);
        if (Linux.umount2(rootfs, 0) != 0)
            throw new ShimException($"cannot stack the cached layer {layerDir} into rootfs {rootfs}: unmounting the engine's overlay: {Linux.Error(Linux.LastErrno)}");
        ClearVolatileMark(mount);
        if (Linux.mount(mount.Source, rootfs, "overlay", flags, Data(mount, layerDir)) == 0) return;
        var error = Linux.Error(Linux.LastErrno);
        if (Linux.mount(mount.Source, rootfs, "overlay", flags, Data(mount, layerDir: null)) != 0)
            throw new ShimException($"cannot stack the cached layer {layerDir} into rootfs {rootfs} ({error}), nor mount the engine's overlay back: {Linux.Error(Linux.LastErrno)}");
        throw new ShimException($"cannot stack the cached layer {layerDir} into rootfs {rootfs}: {error}");
    }

    /// <summary>A `volatile` overlay (podman's for `run --rm`) leaves work/incompat/volatile in its workdir, and overlayfs
    /// refuses to mount that workdir again until it is gone: it says the upper may have lost writes in a crash. Here the
    /// mount was taken down cleanly a moment ago, before the container ran.</summary>
    private static void ClearVolatileMark(MountEntry mount)
    {
        if (mount.SuperOption("workdir") is not { } work) return;
        var mark = Path.Combine(work, "work", "incompat", "volatile");
        try
        {
            if (Directory.Exists(mark)) Directory.Delete(mark, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the mount below then fails, and the engine's own mount is put back
        }
    }

    /// <summary>The engine's super options with the layer prepended to lowerdir; the superblock's rw/ro is the
    /// mount's flag.</summary>
    private static string Data(MountEntry mount, string? layerDir) => string.Join(',', mount.SuperOptions
        .Where(o => o is not ("rw" or "ro"))
        .Select(o => layerDir is not null && o.StartsWith("lowerdir=", StringComparison.Ordinal) ? $"lowerdir={layerDir}:{o[9..]}" : o));
}
