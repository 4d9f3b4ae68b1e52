namespace Csshim.ShimRuntime.Staging;

/// <summary>An engine's writable layer under a container's rootfs: root.path is the mount point of an overlay with an
/// upperdir (Docker's overlay2, containerd's overlayfs snapshotter, podman's overlay driver). csshim restores into
/// such a rootfs in place and snapshots its upperdir, so the container's writes stay where the engine keeps them
/// (`docker diff`, `docker commit`, restarts).</summary>
internal sealed record EngineLayer(string Rootfs, string UpperDir)
{
    /// <summary>The engine's mount itself, when found in mountinfo (a cached layer is stacked into it).</summary>
    public MountEntry? Mount { get; private init; }

    /// <summary>The layer whose overlay is mounted exactly at rootfs (canonical), or null: a plain directory, a
    /// read-only overlay, another filesystem, or a bind mount of part of an overlay (its upperdir is not this
    /// rootfs's).</summary>
    public static EngineLayer? At(string rootfs)
    {
        var top = MountTable.Entries().LastOrDefault(e => e.MountPoint == rootfs);
        if (top is not { FsType: "overlay", Root: "/" }) return null;
        return top.SuperOption("upperdir") is { Length: > 0 } upper ? new EngineLayer(rootfs, upper) { Mount = top } : null;
    }

    /// <summary>True while the same overlay is still mounted at the rootfs (a snapshot must read the live upper).</summary>
    public bool StillMounted => At(Rootfs)?.UpperDir == UpperDir;
}
