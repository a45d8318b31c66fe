"""The paper's Figure 1: binary tasks from four 2-D Gaussians, where one hypernetwork update suffices."""
