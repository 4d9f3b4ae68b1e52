namespace Csshim.Reliability.Tests;

/// <summary>`csshim gc`: stagings whose container the runtime no longer knows go; live ones stay; --dry-run only lists.</summary>
[TestFixture]
public class GcTests : SandboxFixture
{

    [TestCase("runc"), TestCase("runsc-2022"), TestCase("runsc-2024")]
    public void Gc_removes_only_stagings_of_containers_the_runtime_lost(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var archive = sb.Archive("a", Sandbox.Text("dir/file", "live"));
        var live = Start(rt, "live", archive);
        var lost = Start(rt, "lost", archive);
        var lostBundle = Path.Combine(sb.Dir, "bundles", "lost");
        // A client that bypasses csshim: the runtime forgets the container, the staging stays behind.
        Assert.That(sb.Runtime(rt, "delete", "--force", lost).Status, Is.Zero);
        var lostStaging = sb.StagingOf(lost);
        var mountsBefore = HostState.MountsUnder(sb.Dir);
        Assert.That(mountsBefore, Has.Count.EqualTo(4), "two stagings, two mounts each");

        var dry = sb.Shim(rt, ["gc", "--dry-run"]);
        Assert.Multiple(() =>
        {
            Assert.That(dry.Status, Is.Zero, dry.ToString());
            Assert.That(dry.Stdout, Does.Contain($"would remove {lost}"));
            Assert.That(dry.Stdout, Does.Contain($"keep {live}"));
            Assert.That(HostState.MountsUnder(sb.Dir), Is.EqualTo(mountsBefore), "--dry-run unmounted something");
            Assert.That(Directory.Exists(lostStaging), Is.True, "--dry-run removed a staging");
        });

        var gc = sb.Shim(rt, ["gc"]);
        Assert.Multiple(() =>
        {
            Assert.That(gc.Status, Is.Zero, gc.ToString());
            Assert.That(gc.Stdout, Does.Contain($"remove {lost}"));
            Assert.That(Directory.Exists(lostStaging), Is.False, "gc left the lost container's staging");
            Assert.That(HostState.MountsUnder(lostStaging), Is.Empty);
            Assert.That(sb.StatusOf(rt, live), Is.EqualTo("running"), "gc disturbed the live container");
            Assert.That(HostState.MountsUnder(sb.StagingOf(live)), Has.Count.EqualTo(2), "gc unmounted the live staging");
            Assert.That(File.ReadAllText(Path.Combine(lostBundle, "config.json")), Does.Contain($"\"{sb.Rootfs}\""),
                "gc did not put the lost bundle's config.json back");
        });
        Assert.That(sb.Shim(rt, ["gc"]).Stdout, Does.Not.Contain("remove"), "a second gc found more to remove");
        Assert.That(sb.Shim(rt, ["delete", "--force", live]).Status, Is.Zero);
        sb.AssertClean("after gc and delete");
    }

    private string Start(RuntimeUnderTest rt, string name, string archive)
    {
        var bundle = sb.Bundle(name, ["sleep", "1000"], ArchivePolicyTests.Annotated(archive));
        var id = sb.Track(rt, name);
        var create = sb.Shim(rt, ["create", "--bundle", bundle, id], ["--allow-rootfs-tar-annotation"]);
        Assert.That(create.Status, Is.Zero, create.ToString());
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Zero);
        return id;
    }
}
