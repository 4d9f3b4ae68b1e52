using System.Security.Cryptography;
using Newtonsoft.Json.Linq;

namespace Csshim.Reliability.Tests;

/// <summary>csshim SIGKILLed at every step (CSSHIM_FAULT_POINT), then `csshim delete` or `csshim gc` as the
/// recovery: the host must end clean — no mount, no staging, no container — with config.json a complete JSON file
/// right after the crash and the original bytes after the recovery, and a snapshot file never half written.</summary>
[TestFixture]
public class FaultTests : SandboxFixture
{
    private static readonly string[] CreatePoints = ["tmpfs-mounted", "extracting", "overlay-mounted", "config-rewritten", "forwarding"];
    private const int Killed = 128 + 9;

    public static IEnumerable<TestCaseData> CreateFaults() =>
        from rt in Runtimes.All
        from point in CreatePoints
        from recovery in new[] { "delete", "gc" }
        select new TestCaseData(rt.Name, point, recovery).SetName($"Crash_at_{point}_then_{recovery}_{rt.Name}");

    /// <summary>An archive well over the 64 KiB after which the mid-stream points fire.</summary>
    private string BigArchive() => sb.Archive("big", new Dictionary<string, byte[]>
    {
        ["dir/big"] = RandomNumberGenerator.GetBytes(256 << 10),
        ["dir/file"] = "restored"u8.ToArray(),
    });

    private static Dictionary<string, string> Fault(string point) => new() { ["CSSHIM_FAULT_POINT"] = point };

    [TestCaseSource(nameof(CreateFaults))]
    public void Crash_during_create_is_recovered(string runtime, string point, string recovery)
    {
        var rt = Runtimes.Named(runtime);
        var bundle = sb.Bundle("b", ["cat", "/dir/file"], ArchivePolicyTests.Annotated(BigArchive()));
        var config = Path.Combine(bundle, "config.json");
        var original = File.ReadAllBytes(config);
        var id = sb.Track(rt, "crash");

        var create = sb.Shim(rt, ["create", "--bundle", bundle, id], ["--allow-rootfs-tar-annotation"], Fault(point));
        Assert.That(create.Status, Is.EqualTo(Killed), $"the fault point {point} did not kill csshim: {create}");
        Assert.That(sb.Stagings(), Has.Count.EqualTo(1), "the crash left no staging: the fault fired before staging began");
        AssertConfigWhole(config, original); // what a client would read right after the crash
        // After "forwarding" the runtime's create goes on as an orphan; recovery starts once it is done.
        HostState.WaitUntil(() => HostState.ProcessesWith("create", id).Count == 0, TimeSpan.FromSeconds(60), "the orphaned create");

        if (recovery == "delete")
        {
            var delete = sb.Shim(rt, ["delete", "--force", id]);
            TestContext.Out.WriteLine($"csshim delete --force: {delete}");
        }
        else
        {
            // A client that lost track of the container removes it from the runtime, not through csshim.
            if (sb.RuntimeKnows(rt, id)) Assert.That(sb.Runtime(rt, "delete", "--force", id).Status, Is.Zero);
            var gc = sb.Shim(rt, ["gc"]);
            Assert.That(gc.Status, Is.Zero, $"csshim gc: {gc}");
            Assert.That(gc.Stdout, Does.Contain($"remove {id}"));
        }

        sb.AssertClean($"after crash at {point} and {recovery}");
        Assert.That(File.ReadAllBytes(config), Is.EqualTo(original),
            $"config.json after crash at {point} and {recovery} is not the bundle's own, byte for byte: {File.ReadAllText(config)}");
        Figures.Write("fault", ("point", point), ("runtime", rt), ("recovery", recovery), ("recovered", "yes"));
    }

    /// <summary>config.json is what a client reads back: the original bytes, or a whole, parseable rewrite.</summary>
    private static void AssertConfigWhole(string config, byte[] original)
    {
        var now = File.ReadAllBytes(config);
        if (now.SequenceEqual(original)) return;
        Assert.DoesNotThrow(() => JObject.Parse(File.ReadAllText(config)), "config.json is not complete JSON");
        TestContext.Out.WriteLine("config.json was left rewritten (complete)");
    }

    [TestCase("runc"), TestCase("runsc-2022"), TestCase("runsc-2024")]
    public void Crash_during_snapshot_leaves_the_old_archive_or_none(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var id = StartRestored(rt);
        var snapshots = Path.Combine(sb.Dir, "snapshots");
        Directory.CreateDirectory(snapshots);
        var existing = Path.Combine(snapshots, "existing.tar");
        var old = File.ReadAllBytes(BigArchive());
        File.WriteAllBytes(existing, old);
        var absent = Path.Combine(snapshots, "absent.tar");

        foreach (var file in new[] { existing, absent })
        {
            var tar = sb.Shim(rt, ["tar", "rootfs-upper", "--file", file, id], env: Fault("snapshotting"));
            Assert.That(tar.Status, Is.EqualTo(Killed), $"the fault point snapshotting did not kill csshim: {tar}");
        }
        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllBytes(existing), Is.EqualTo(old), "the existing snapshot was changed by a killed tar");
            Assert.That(File.Exists(absent), Is.False, "a killed tar left a file under the requested name");
            // Nor a partial temp file beside the target: nothing would ever remove it, and repeated crashes fill the directory.
            Assert.That(Directory.GetFileSystemEntries(snapshots), Is.EquivalentTo(new[] { existing }), "files left in the snapshot directory by a killed tar");
        });

        // The container and its staging survive a killed snapshot: a new one works, and delete cleans up.
        var good = Path.Combine(snapshots, "good.tar");
        Assert.That(sb.Shim(rt, ["tar", "rootfs-upper", "--file", good, id]).Status, Is.Zero);
        Assert.That(Proc.Run("/bin/tar", ["-xOf", good, "./dir/file"], sb.Logs).Stdout, Is.EqualTo("restored"));
        Assert.That(sb.Shim(rt, ["delete", "--force", id]).Status, Is.Zero);
        sb.AssertClean("after the killed snapshots and delete");
        Figures.Write("fault", ("point", "snapshotting"), ("runtime", rt), ("recovery", "delete"), ("recovered", "yes"));
    }

    /// <summary>A running container restored from the big archive (so its upper is over 64 KiB).</summary>
    private string StartRestored(RuntimeUnderTest rt)
    {
        var bundle = sb.Bundle("run", ["sleep", "1000"], ArchivePolicyTests.Annotated(BigArchive()));
        var id = sb.Track(rt, "snap");
        var create = sb.Shim(rt, ["create", "--bundle", bundle, id], ["--allow-rootfs-tar-annotation"]);
        Assert.That(create.Status, Is.Zero, create.ToString());
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Zero);
        return id;
    }
}
