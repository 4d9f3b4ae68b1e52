using Csshim.Tests.Rig;

namespace Csshim.Snapshot.Tests.Support;

/// <summary>The two ways csshim stages a rootfs, and the bundle rootfs that selects each: a plain directory gets
/// csshim's tmpfs upper under an overlay; a rootfs that is already an overlay mount with an on-disk upper (as Docker,
/// containerd and podman mount a container's rootfs) is restored into in place.</summary>
public static class StagingModes
{
    public const string Tmpfs = "tmpfs";
    public const string InPlace = "in-place";

    /// <summary>Every runtime under test in every mode, as the fixtures' (runtime, mode) arguments.</summary>
    public static IEnumerable<TestFixtureData> Fixtures() =>
        from runtime in RuntimeUnderTest.Names
        from mode in new[] { Tmpfs, InPlace }
        select new TestFixtureData(runtime, mode);

    /// <summary>runc in every mode: for what csshim does the same whatever the runtime (its own mounts and cache).</summary>
    public static IEnumerable<TestFixtureData> RuncFixtures() =>
        from mode in new[] { Tmpfs, InPlace } select new TestFixtureData(RuntimeUnderTest.Runc, mode);
}

/// <summary>One fixture instance per staging mode, on runc.</summary>
public sealed class RuncInEveryModeAttribute() : TestFixtureSourceAttribute(typeof(StagingModes), nameof(StagingModes.RuncFixtures));

/// <summary>One fixture instance per runtime and staging mode.</summary>
public sealed class PerRuntimeAndModeAttribute() : TestFixtureSourceAttribute(typeof(StagingModes), nameof(StagingModes.Fixtures));

/// <summary>An engine's writable layer made by hand: an overlay of the test's image with an upper dir on disk,
/// mounted where a bundle's rootfs goes. Detached on Dispose (lazily: a container of the test may still hold it
/// until the rig deletes it).</summary>
public sealed class EngineLayers(string dir) : IDisposable
{
    private readonly List<string> mounted = [];

    public string Mount(string lower, string name)
    {
        var layer = Path.Combine(dir, "engine", name);
        foreach (var sub in new[] { "upper", "work", "merged" }) Directory.CreateDirectory(Path.Combine(layer, sub));
        var merged = Path.Combine(layer, "merged");
        var r = ProcessRunner.Run("/bin/mount", ["-t", "overlay", "overlay", "-o",
            $"lowerdir={lower},upperdir={Path.Combine(layer, "upper")},workdir={Path.Combine(layer, "work")}", merged]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"mounting the engine layer {merged}: {r}");
        mounted.Add(merged);
        return merged;
    }

    public bool Owns(string mountPoint) => mounted.Contains(mountPoint);

    /// <summary>What an engine does on a restart: its overlay at merged (whatever csshim mounted there instead)
    /// taken down and mounted again, fresh, with its own options over the same upper.</summary>
    public void Remount(string merged, string lower)
    {
        Native.Umount2(merged, Native.MNT_DETACH);
        var layer = Path.GetDirectoryName(merged)!;
        var r = ProcessRunner.Run("/bin/mount", ["-t", "overlay", "overlay", "-o",
            $"lowerdir={lower},upperdir={Path.Combine(layer, "upper")},workdir={Path.Combine(layer, "work")}", merged]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"mounting the engine layer {merged} again: {r}");
    }

    public void Dispose()
    {
        foreach (var merged in mounted) Native.Umount2(merged, Native.MNT_DETACH);
        mounted.Clear();
    }
}
