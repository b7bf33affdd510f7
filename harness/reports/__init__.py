"""Reports: tables, marks, statistics, plots, grids, the regression check and the HTML report."""
