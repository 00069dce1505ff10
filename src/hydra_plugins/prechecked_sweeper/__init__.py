"""A Hydra sweeper plugin of the replication package (discovered through Hydra's ``hydra_plugins``
namespace; see :mod:`.prechecked_sweeper`)."""
