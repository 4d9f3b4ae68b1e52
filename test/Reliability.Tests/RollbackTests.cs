namespace Csshim.Reliability.Tests;

/// <summary>A create that fails after staging began — a full upper, a runtime that fails — leaves nothing behind.</summary>
[TestFixture]
public class RollbackTests : SandboxFixture
{

    [TestCase("runc"), TestCase("runsc-2022")]
    public void Full_upper_layer_rolls_back_with_a_clear_error(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var archive = sb.Archive("fat", new Dictionary<string, byte[]> { ["dir/fat"] = new byte[4 << 20] });
        var bundle = sb.Bundle("fat", ["cat", "/dir/fat"], ArchivePolicyTests.Annotated(archive));
        Refusal.AssertCreateRefused(sb, rt, bundle, "fat", "the upper's size cap of 1m is reached",
            ["--allow-rootfs-tar-annotation", "--shim-upper-size", "1m"]);
        Figures.Write("rollback", ("case", "upper-full"), ("runtime", rt), ("clean", "yes"));
    }

    [Test]
    public void Runtime_failing_create_rolls_back()
    {
        var rt = Runtimes.Runc; // runc checks process.args at create; runsc only at start (below)
        var bundle = sb.Bundle("nobin", ["/no-such-binary"], ArchivePolicyTests.Annotated(sb.Archive("a", Sandbox.Text("dir/file", "x"))));
        Refusal.AssertCreateRefused(sb, rt, bundle, "nobin", "no-such-binary");
        Figures.Write("rollback", ("case", "runtime-create-fails"), ("runtime", rt), ("clean", "yes"));
    }

    [Test]
    public void Runsc_failing_start_is_cleaned_by_delete()
    {
        var rt = Runtimes.Runsc;
        var bundle = sb.Bundle("nobin", ["/no-such-binary"], ArchivePolicyTests.Annotated(sb.Archive("a", Sandbox.Text("dir/file", "x"))));
        var original = File.ReadAllBytes(Path.Combine(bundle, "config.json"));
        var id = sb.Track(rt, "nobin");
        Assert.That(sb.Shim(rt, ["create", "--bundle", bundle, id], ["--allow-rootfs-tar-annotation"]).Status, Is.Zero);
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Not.Zero, "starting a missing binary succeeded");
        // runsc will not kill a container still "created": the client's delete --force is the way out.
        var delete = sb.Shim(rt, ["delete", "--force", id]);
        Assert.That(delete.Status, Is.Zero, delete.ToString());
        sb.AssertClean("after delete --force");
        Assert.That(File.ReadAllBytes(Path.Combine(bundle, "config.json")), Is.EqualTo(original), "config.json not put back");
        Figures.Write("rollback", ("case", "runtime-start-fails"), ("runtime", rt), ("clean", "yes"));
    }

    /// <summary>A runtime that fails every call (here /bin/false) cannot say whether it kept the container; csshim
    /// must still not leave a tmpfs and an overlay mounted for a create that failed.</summary>
    [Test]
    public void Bogus_runtime_rolls_back()
    {
        var bogus = Runtimes.Bogus;
        var bundle = sb.Bundle("bogus", ["cat", "/dir/file"], ArchivePolicyTests.Annotated(sb.Archive("a", Sandbox.Text("dir/file", "x"))));
        var original = File.ReadAllBytes(Path.Combine(bundle, "config.json"));
        var create = sb.Shim(bogus, ["create", "--bundle", bundle, "bogus"], ["--allow-rootfs-tar-annotation"]);
        Assert.That(create.Status, Is.Not.Zero);
        Assert.Multiple(() =>
        {
            Assert.That(HostState.MountsUnder(sb.Dir), Is.Empty, $"mounts left by a failed create: {create.Stderr}");
            Assert.That(sb.Stagings(), Is.Empty, "staging left by a failed create");
            Assert.That(File.ReadAllBytes(Path.Combine(bundle, "config.json")), Is.EqualTo(original), "config.json not put back");
        });
        Figures.Write("rollback", ("case", "bogus-runtime"), ("runtime", bogus), ("clean", "yes"));
    }
}
