using System.Security.Cryptography;

namespace Csshim.Reliability.Tests;

/// <summary>A rootfs that is an engine's overlay (its own upper on disk) is restored in place: a re-create of the same
/// container (a restart) must keep the container's later writes instead of applying the archive again, and a csshim
/// killed at any step of the restore must leave a rootfs that the next create completes — never one handed to the
/// runtime half restored.</summary>
[TestFixture]
public class InPlaceRestoreTests : SandboxFixture
{
    /// <summary>The steps of each restore mode: a copy into the engine's layer, or its cached layer stacked into the
    /// engine's overlay.</summary>
    private static readonly (string Mode, string[] Points)[] RestorePoints =
    [
        ("copy", ["restore-validated", "restore-marked", "restoring-in-place", "restore-applied", "config-rewritten"]),
        ("layer", ["extracting", "layer-built", "layer-stacked", "config-rewritten"]),
    ];
    private const int Killed = 128 + 9;
    private static readonly string[] Allow = ["--allow-rootfs-tar-annotation"];

    private byte[] big = [];

    /// <summary>Well over the 64 KiB after which the mid-stream point fires, and a file that shows whether it came back.</summary>
    private string BigArchive()
    {
        big = RandomNumberGenerator.GetBytes(512 << 10);
        return sb.Archive("big", new Dictionary<string, byte[]>
        {
            ["dir/big"] = big,
            ["dir/file"] = "restored"u8.ToArray(),
        });
    }

    public static IEnumerable<TestCaseData> Faults() =>
        from rt in Runtimes.All
        from mode in RestorePoints
        from point in mode.Points
        select new TestCaseData(rt.Name, mode.Mode, point).SetName($"Crash_at_{point}_of_{mode.Mode}_is_completed_by_the_next_create_{rt.Name}");

    [TestCaseSource(nameof(Faults))]
    public void Crash_during_an_in_place_restore(string runtime, string restore, string point)
    {
        var rt = Runtimes.Named(runtime);
        string[] flags = [.. Allow, "--shim-restore", restore];
        var rootfs = sb.EngineRootfs("c");
        var bundle = sb.Bundle("b", ["sleep", "1000"], ArchivePolicyTests.Annotated(BigArchive()), rootfs);
        var config = Path.Combine(bundle, "config.json");
        var original = File.ReadAllBytes(config);
        var id = sb.Track(rt, "crash");

        var crashed = sb.Shim(rt, ["create", "--bundle", bundle, id], flags, new Dictionary<string, string> { ["CSSHIM_FAULT_POINT"] = point });
        Assert.That(crashed.Status, Is.EqualTo(Killed), $"the fault point {point} did not kill csshim: {crashed}");
        Assert.That(sb.RuntimeKnows(rt, id), Is.False, "the runtime got a half-restored rootfs");

        // The client sees the create fail and tries again (Docker's restart, containerd's retry): it must get the
        // whole archive. A delete first, as containerd's shim does after a failed create, must not undo anything.
        sb.Shim(rt, ["delete", "--force", id]);
        var again = sb.Shim(rt, ["create", "--bundle", bundle, id], flags);
        Assert.That(again.Status, Is.Zero, $"the create after the crash: {again}");
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Zero);
        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllText(Path.Combine(rootfs, "dir", "file")), Is.EqualTo("restored"));
            Assert.That(File.ReadAllBytes(Path.Combine(rootfs, "dir", "big")), Is.EqualTo(big), "dir/big after the completed restore");
            Assert.That(sb.Shim(rt, ["exec", id, "cat", "/dir/file"]).Stdout, Is.EqualTo("restored"), "inside the container");
        });
        Assert.That(sb.Shim(rt, ["delete", "--force", id]).Status, Is.Zero);
        sb.AssertClean($"after the crash at {point}");
        Assert.That(File.ReadAllBytes(config), Is.EqualTo(original), "config.json after delete");
        Figures.Write("fault", ("point", point), ("runtime", rt), ("recovery", "re-create"), ("recovered", "yes"));
    }

    /// <summary>Docker's restart is delete + create of the same container on the same layer.</summary>
    [TestCase("runc"), TestCase("runsc-2022"), TestCase("runsc-2024")]
    public void A_re_create_keeps_the_containers_writes(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var rootfs = sb.EngineRootfs("c");
        var bundle = sb.Bundle("b", ["sleep", "1000"], ArchivePolicyTests.Annotated(BigArchive()), rootfs);
        var id = sb.Track(rt, "restart");

        Assert.That(sb.Shim(rt, ["create", "--bundle", bundle, id], Allow).Status, Is.Zero);
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Zero);
        Assert.That(sb.Shim(rt, ["exec", id, "sh", "-c", "echo changed > /dir/file; echo new > /later"]).Status, Is.Zero);
        Assert.That(sb.Shim(rt, ["delete", "--force", id]).Status, Is.Zero);

        var again = sb.Shim(rt, ["create", "--bundle", bundle, id], Allow);
        Assert.That(again.Status, Is.Zero, again.ToString());
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Zero);
        Assert.That(sb.Shim(rt, ["exec", id, "cat", "/dir/file", "/later"]).Stdout, Is.EqualTo("changed\nnew\n"),
            "the archive was applied again over the container's own writes");
        var upper = Path.Combine(Path.GetDirectoryName(rootfs)!, "upper");
        Assert.That(File.ReadAllText(Path.Combine(upper, "later")), Is.EqualTo("new\n"), "the writes are in the engine's upper");
        Assert.That(sb.Shim(rt, ["delete", "--force", id]).Status, Is.Zero);
        sb.AssertClean("after the restart");
    }

    /// <summary>A refused archive changes nothing in an engine's layer: it is checked whole before the first write.</summary>
    [TestCase("runc"), TestCase("runsc-2022")]
    public void A_refused_archive_leaves_the_layer_untouched(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var rootfs = sb.EngineRootfs("c");
        var upper = Path.Combine(Path.GetDirectoryName(rootfs)!, "upper");
        // A good first entry, then one that escapes: a streaming restore would already have written the first.
        var tree = Path.Combine(sb.Dir, "hostile");
        Directory.CreateDirectory(Path.Combine(tree, "a"));
        File.WriteAllText(Path.Combine(tree, "a", "first"), "x");
        var archive = Path.Combine(sb.Dir, "hostile.tar");
        Proc.Must("/bin/tar", ["--format=pax", "-C", tree, "-cf", archive, "./a", "--absolute-names", "/etc/hostname"], sb.Logs);
        File.SetUnixFileMode(archive, (UnixFileMode)0b110_100_100);
        var bundle = sb.Bundle("b", ["true"], ArchivePolicyTests.Annotated(archive), rootfs);

        Refusal.AssertCreateRefused(sb, rt, bundle, "bad", "absolute");
        Assert.That(Directory.EnumerateFileSystemEntries(upper), Is.Empty, "the engine's upper after a refused archive");
    }
}
