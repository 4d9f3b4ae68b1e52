using System.Security.Cryptography;
using Newtonsoft.Json.Linq;

namespace Csshim.Reliability.Tests;

/// <summary>The layer cache under faults and load: a build killed halfway or out of space, hostile archives, several
/// first creates at once, and gc. An entry a later create trusts exists only when the archive passed every check.</summary>
[TestFixture]
public class LayerCacheTests : SandboxFixture
{
    private static readonly string[] Layer = ["--allow-rootfs-tar-annotation", "--shim-restore", "layer"];
    private const int Killed = 128 + 9;

    private string BigArchive(int bytes = 256 << 10) => sb.Archive("big", new Dictionary<string, byte[]>
    {
        ["dir/big"] = RandomNumberGenerator.GetBytes(bytes),
        ["dir/file"] = "restored"u8.ToArray(),
    });

    private string LayerOf(string id) => (string)JObject.Parse(File.ReadAllText(Path.Combine(sb.StagingOf(id), "state.json")))["layer"]!;

    [TestCase("extracting")]
    [TestCase("layer-built")]
    public void Crash_during_the_build_leaves_no_entry_a_later_create_trusts(string point)
    {
        var rt = Runtimes.Runc;
        var bundle = sb.Bundle("b", ["cat", "/dir/file"], ArchivePolicyTests.Annotated(BigArchive()));
        var id = sb.Track(rt, "crash");
        var create = sb.Shim(rt, ["create", "--bundle", bundle, id], Layer, new Dictionary<string, string> { ["CSSHIM_FAULT_POINT"] = point });
        Assert.That(create.Status, Is.EqualTo(Killed), $"the fault point {point} did not kill csshim: {create}");
        Assert.That(sb.CacheEntries(), Is.Empty, "an entry of a build that never finished");
        Assert.That(sb.CacheLeftovers(), Has.Count.EqualTo(1), "the killed build's directory");
        Assert.That(sb.Shim(rt, ["delete", "--force", id]).Status, Is.Zero);

        Assert.That(Lifecycle.RunToEnd(sb, rt, bundle, "again", Layer), Is.EqualTo("restored"), "a create after the crash");
        Assert.That(sb.CacheEntries(), Has.Count.EqualTo(1));
        Lifecycle.DeleteAndAssertClean(sb, rt, "again");

        var dry = sb.Shim(rt, ["gc", "--dry-run"]);
        Assert.That(dry.Stdout, Does.Contain("would remove layer").And.Contain(".build-"), $"gc --dry-run: {dry}");
        Assert.That(sb.CacheLeftovers(), Has.Count.EqualTo(1), "a dry run removes nothing");
        var gc = sb.Shim(rt, ["gc"]);
        Assert.That(gc.Status, Is.Zero, $"gc: {gc}");
        Assert.That(sb.CacheLeftovers(), Is.Empty, "gc removes what the crash left");
        Assert.That(sb.CacheEntries(), Is.Empty, "gc removes the entry no container references any more");
    }

    [Test]
    public void Out_of_space_while_building_refuses_the_create_cleanly()
    {
        var rt = Runtimes.Runc;
        Directory.CreateDirectory(sb.CacheDir);
        Proc.Must("/bin/mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", sb.CacheDir], sb.Logs);
        try
        {
            var bundle = sb.Bundle("b", ["cat", "/dir/file"], ArchivePolicyTests.Annotated(BigArchive(4 << 20)));
            var id = sb.Track(rt, "full");
            var create = sb.Shim(rt, ["create", "--bundle", bundle, id], Layer);
            Assert.That(create.Status, Is.EqualTo(1), $"create: {create}");
            Assert.That(create.Stderr, Does.Contain("rootfs upper archive").And.Contain($"the layer cache {sb.CacheDir} is full"));
            Assert.That(Directory.EnumerateFileSystemEntries(sb.CacheDir).Where(e => !e.EndsWith(".lock")), Is.Empty,
                "nothing of the failed build is left in the cache");
            Assert.That(sb.RuntimeKnows(rt, id), Is.False, "the runtime was never called");
        }
        finally
        {
            Proc.Run("/bin/umount", ["-l", sb.CacheDir], sb.Logs);
        }
        sb.AssertClean("after the refused create");
    }

    [Test]
    public void Concurrent_first_creates_build_one_entry()
    {
        var rt = Runtimes.Runc;
        var archive = BigArchive(8 << 20);
        var ids = Enumerable.Range(0, 4).Select(i => $"con{i}").ToArray();
        var bundles = ids.Select(id => sb.Bundle(id, ["sleep", "100"], ArchivePolicyTests.Annotated(archive))).ToArray();
        var creates = ids.Select((id, i) => Task.Run(() => sb.Shim(rt, ["create", "--bundle", bundles[i], sb.Track(rt, id)], Layer))).ToArray();
        Task.WaitAll(creates);
        foreach (var create in creates) Assert.That(create.Result.Status, Is.Zero, $"create: {create.Result}");

        Assert.That(sb.CacheEntries(), Has.Count.EqualTo(1), "one entry for one archive");
        Assert.That(sb.CacheLeftovers(), Is.Empty, "no second build left behind");
        Assert.That(ids.Select(LayerOf).Distinct(), Is.EqualTo(new[] { Path.Combine(sb.CacheEntries()[0], "layer") }),
            "every container stacks that one entry");
        var keep = sb.Shim(rt, ["gc", "--dry-run"]);
        Assert.That(keep.Stdout, Does.Contain("keep layer"), $"gc --dry-run with live containers: {keep}");
        foreach (var id in ids) Assert.That(sb.Shim(rt, ["delete", "--force", id]).Status, Is.Zero);
        sb.AssertClean("after the deletes");
        Assert.That(sb.Shim(rt, ["gc"]).Stdout, Does.Contain("remove layer"));
        Assert.That(sb.CacheEntries(), Is.Empty);
    }

    [Test]
    public void A_changed_archive_never_meets_the_old_entry()
    {
        var rt = Runtimes.Runc;
        var archive = sb.Archive("a", Sandbox.Text("dir/file", "first"));
        var bundle = sb.Bundle("b", ["cat", "/dir/file"], ArchivePolicyTests.Annotated(archive));
        Assert.That(Lifecycle.RunToEnd(sb, rt, bundle, "one", Layer), Is.EqualTo("first"));
        Lifecycle.DeleteAndAssertClean(sb, rt, "one");

        // Rewritten in place (same inode, same size): its ctime moves, so its key does.
        var rewritten = sb.Archive("a2", Sandbox.Text("dir/file", "other"));
        File.WriteAllBytes(archive, File.ReadAllBytes(rewritten));
        Assert.That(Lifecycle.RunToEnd(sb, rt, bundle, "two", Layer), Is.EqualTo("other"));
        Lifecycle.DeleteAndAssertClean(sb, rt, "two");
        Assert.That(sb.CacheEntries(), Has.Count.EqualTo(2));
    }

    [Test]
    public void A_reused_entry_must_fit_the_later_create_s_budget()
    {
        var rt = Runtimes.Runc;
        var archive = sb.Archive("many", Enumerable.Range(0, 50).ToDictionary(i => $"dir/f{i}", _ => "x"u8.ToArray()));
        var bundle = sb.Bundle("b", ["cat", "/dir/f1"], ArchivePolicyTests.Annotated(archive));
        Assert.That(Lifecycle.RunToEnd(sb, rt, bundle, "fits", Layer), Is.EqualTo("x"));
        Lifecycle.DeleteAndAssertClean(sb, rt, "fits");

        var create = sb.Shim(rt, ["create", "--bundle", bundle, sb.Track(rt, "over")], [.. Layer, "--shim-max-entries", "10"]);
        Assert.That(create.Status, Is.EqualTo(1), $"create: {create}");
        Assert.That(create.Stderr, Does.Contain("entries exceed the entry budget of 10"));
        sb.AssertClean("after the refused create");
    }

    [Test]
    public void Copy_mode_builds_no_entry()
    {
        var rt = Runtimes.Runc;
        var bundle = sb.Bundle("b", ["cat", "/dir/file"], ArchivePolicyTests.Annotated(sb.Archive("a", Sandbox.Text("dir/file", "copied"))));
        Assert.That(Lifecycle.RunToEnd(sb, rt, bundle, "c", ["--allow-rootfs-tar-annotation", "--shim-restore", "copy"]), Is.EqualTo("copied"));
        Assert.That(LayerOf("c"), Is.Null.Or.Empty);
        Lifecycle.DeleteAndAssertClean(sb, rt, "c");
        Assert.That(sb.CacheEntries(), Is.Empty);
    }
}
